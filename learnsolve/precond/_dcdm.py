"""DCDM search directions: the learned V-cycle plus a trained nonlinear correction."""

from __future__ import annotations

import time

import numpy as np

from ._base import Preconditioner


class LearnedDCDM:
    """A trained :class:`~learnsolve.nn.DirectionNet` on top of a learned V-cycle.

    Obtain one with ``learnsolve.pretrained('dcdm-2d')`` (or ``'dcdm-3d'``);
    :meth:`directions` gives the direction map for
    :func:`learnsolve.krylov.dcdm` and :func:`learnsolve.krylov.fcg`.

    Parameters
    ----------
    name : str
    vcycle : LearnedVCycle
        The linear part (its weights ship inside the DCDM weights file).
    net : DirectionNet
    meta : dict
    """

    def __init__(self, name, vcycle, net, meta):
        self.name = name
        self.vcycle = vcycle
        self.net = net
        self.meta = dict(meta)

    def __repr__(self):
        return f"<LearnedDCDM {self.name!r} dim={self.net.dim} hidden={self.net.hidden}>"

    def directions(self, problem, shape=None, *, check=True, clusters="auto"):
        """The nonlinear direction map ``r ↦ q`` for ``problem`` (a Problem or a grid matrix).

        Parameters
        ----------
        problem : Problem or sparse matrix
            A 2D/3D grid stencil matrix (``problem.grid_shape`` is used when given).
        shape : tuple of int, optional
            Grid shape; inferred for square and cube grids.
        check : bool
            Check that the underlying V-cycle is SPD; if not it falls back to
            PyAMG SA (warned) and the correction is dropped.
        clusters : {"auto", True, False}
            The V-cycle's coefficient-cluster coarse space (see
            :meth:`LearnedVCycle.aspreconditioner`).  A trained correction is
            applied to the cycle alone, so it ignores this.

        Returns
        -------
        Preconditioner
            ``is_linear=False``: pass it as ``M`` to ``learnsolve.krylov.dcdm`` or
            ``fcg`` (plain CG warns).

        Examples
        --------
        >>> import learnsolve
        >>> p = learnsolve.problems.diffusion(64, variance=2.0, seed=1)
        >>> M = learnsolve.pretrained("dcdm-2d").directions(p)
        >>> x, info = learnsolve.krylov.dcdm(p.A, p.b, M=M, rtol=1e-8, k=2)
        >>> info, M.is_linear
        (0, False)
        """
        import torch

        from ..problems._stencil import offsets
        from ._device import NoDevicePath, device_kind

        t0 = time.perf_counter()
        A = getattr(problem, "A", problem)
        if shape is None:
            shape = getattr(problem, "grid_shape", None)
        if device_kind(A) is not None:
            func = f"learnsolve.pretrained({self.name!r}).directions"
            if not self.net.is_zero:
                raise NoDevicePath(f"{func}: a trained DCDM correction runs on the host only; pass "
                                 "a SciPy matrix, or use the V-cycle on the device.")
            # zero correction: the V-cycle's directions, set up and applied on the device
            P = self.vcycle.aspreconditioner(A, shape, check=check, clusters=clusters)
            P.name, P.is_linear, P.is_spd = self.name, False, False
            P.info.update(model=self.name, correction="zero (network skipped)")
            return P
        net = self.net
        base = self.vcycle.aspreconditioner(A, shape, check=check,
                                            clusters=clusters if net.is_zero else False)
        if "fallback" in base.info:
            return base
        H, K, nu = base.hierarchy, base.smoothers, base.nu
        lvl = H.levels[0]
        dim, grid, padded = H.dim, lvl.shape, lvl.padded
        if net.is_zero:  # the correction is exactly 0: q is the V-cycle's output (with its
            apply = base._apply  # cluster coarse space, when it has one); skip the network
        else:
            S = torch.from_numpy(lvl.S.reshape((1, len(offsets(dim))) + padded))
            with torch.inference_mode():
                static = net.static(S)
            apply = self._apply_with_correction(H, K, nu, net, static, grid, padded, dim)

        info = dict(base.info, model=self.name, correction="zero (network skipped)" if net.is_zero
                    else "trained", vcycle=self.meta.get("vcycle", {}).get("name", self.vcycle.name))
        P = Preconditioner(apply, base.shape, np.float64, name=self.name, is_linear=False,
                           is_spd=False, info=info)
        P.setup_time = time.perf_counter() - t0
        return P

    @staticmethod
    def _apply_with_correction(H, K, nu, net, static, grid, padded, dim):
        import torch

        from ..problems._stencil import interior, pad

        def apply(r):
            rp = pad(np.asarray(r, dtype=np.float64), grid).reshape(-1)
            vp = H.vcycle_padded(rp, K, nu)
            sp = H.residual_padded(rp, vp)
            with torch.inference_mode():
                t = [torch.from_numpy(a.reshape((1,) + padded)) for a in (rp, vp, sp)]
                q = net.direction(static, *t)[0].numpy()
            return interior(q, dim).reshape(-1).copy()

        return apply

    aspreconditioner = directions
