"""P1 finite elements on unstructured meshes (scikit-fem): diffusion with jumps in k, preconditioned.

2D: a Delaunay triangulation of jittered points in the unit square; 3D: a
Delaunay tetrahedralization of jittered points in the unit cube
(:func:`learnsolve.problems.jittered_mesh`).  ``k = contrast`` on elements
whose centroid lies in one of a few random disks/balls (a seed fixes them),
1 elsewhere; ``f = 1``, ``u = 0`` on the boundary.  scikit-fem assembles the
matrix; SciPy's ``cg`` solves it with each preconditioner as ``M``.  These
matrices are not grid stencils, so the grid V-cycles do not apply; the graph
(GNN) preconditioners, IC(0), relaxed MIC(0) and PyAMG do.

    .venv/bin/python examples/fem/diffusion.py                      # the README's table (make bench-fem)
    .venv/bin/python examples/fem/diffusion.py --n2 100 --n3 16     # small and quick

Needs ``scikit-fem`` (``make install`` installs it: the ``fem`` extra).
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse as sp

from learnsolve import bench, problems

METHODS = ("identity", "jacobi", "ic0", "mic0", "gnn-ic-correct", "gnn-ic-fem", "amg-sa", "amg-rs")


def assemble(n, dim=2, contrast=1e4, seed=0):
    """scikit-fem's P1 system (Dirichlet-condensed) on learnsolve's jittered mesh."""
    import skfem
    from skfem.helpers import dot, grad

    points, simplices = problems.jittered_mesh(n, dim, seed=seed)
    mesh = (skfem.MeshTri if dim == 2 else skfem.MeshTet)(points.T.copy(), simplices.T.copy())
    centres, radii = problems.inclusions(dim, seed=seed)

    @skfem.BilinearForm
    def stiffness(u, v, w):
        centroid = w.x.mean(axis=-1, keepdims=True)  # k is constant on each element
        return problems.inclusion_coefficient(centroid, centres, radii, contrast) * dot(grad(u), grad(v))

    @skfem.LinearForm
    def load(v, w):
        return 1.0 * v

    basis = skfem.Basis(mesh, skfem.ElementTriP1() if dim == 2 else skfem.ElementTetP1())
    A, b = skfem.condense(stiffness.assemble(basis), load.assemble(basis), D=mesh.boundary_nodes(),
                          expand=False)[:2]
    A = sp.csr_array(A)
    A = sp.csr_array(0.5 * (A + A.T))  # assembly round-off: exactly symmetric for the SPD checks
    A.sort_indices()
    shape = "tri" if dim == 2 else "tet"
    name = f"skfem-{shape}-{len(simplices)}el-c{contrast:g}"
    meta = dict(dim=dim, n=n, contrast=contrast, seed=seed, vertices=len(points), elements=len(simplices))
    return problems.Problem(A, np.asarray(b, dtype=np.float64), name, "fem", meta=meta)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n2", type=int, default=300, help="2D lattice cells per side before jitter")
    ap.add_argument("--n3", type=int, default=32, help="3D lattice cells per side before jitter")
    ap.add_argument("--contrast", type=float, default=1e4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--out", default="benchmarks/results/fem")
    args = ap.parse_args(argv)
    systems = [assemble(args.n2, 2, args.contrast), assemble(args.n3, 3, args.contrast)]
    for p in systems:
        print(f"{p.name}: n={p.A.shape[0]}, nnz={p.A.nnz}, {p.meta}")
    results = bench.run(systems, args.methods, rtol=args.rtol, repeats=args.repeats)
    md, paths = bench.write(results, args.out, rtol=args.rtol, machine=bench.machine_info())
    print(md)
    print("wrote " + ", ".join(paths))


if __name__ == "__main__":
    main()
