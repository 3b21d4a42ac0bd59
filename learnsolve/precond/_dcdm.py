"""DCDM search directions: the learned V-cycle plus a trained nonlinear correction."""

from __future__ import annotations

import time

import numpy as np

from ..multigrid import interior
from ..zoo import LearnedModel, load_state, require_meta
from ._base import Preconditioner
from ._device import NoDevicePath, device_kind
from ._vcycle import LearnedVCycle


class LearnedDCDM(LearnedModel, method="dcdm"):
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

    grid = True

    def __init__(self, name, vcycle, net, meta):
        super().__init__(name, net, meta)
        self.vcycle = vcycle
        self.net = net

    def __repr__(self):
        return f"<LearnedDCDM {self.name!r} dim={self.net.dim} hidden={self.net.hidden}>"

    @classmethod
    def from_weights(cls, name, meta, state, path):
        from ..nn import DirectionNet, SmootherNet

        require_meta(meta, ("dim", "vcycle"), path)
        vm = meta["vcycle"]
        smoother = SmootherNet(int(meta["dim"]), int(vm["channels"]), int(vm["layers"]))
        net = DirectionNet(int(meta["dim"]), int(meta["channels"]))
        load_state(smoother, {k[7:]: v for k, v in state.items() if k.startswith("vcycle.")}, path)
        load_state(net, {k[4:]: v for k, v in state.items() if k.startswith("net.")}, path)
        vc = LearnedVCycle(name, smoother, {"nu": int(vm.get("nu", 1))}, family="dcdm")
        return cls(name, vc, net, meta)

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
        H = base.hierarchy
        if net.is_zero:  # the correction is exactly 0: q is the V-cycle's output (with its
            apply = base._apply  # cluster coarse space, when it has one); skip the network
        else:
            with torch.inference_mode():
                static = net.static(torch.from_numpy(H.levels[0].A.stencil())[None])
            apply = self._apply_with_correction(H, net, static)

        info = dict(base.info, model=self.name, correction="zero (network skipped)" if net.is_zero
                    else "trained", vcycle=self.meta.get("vcycle", {}).get("name", self.vcycle.name))
        P = Preconditioner(apply, base.shape, np.float64, name=self.name, is_linear=False,
                           is_spd=False, info=info)
        P.setup_time = time.perf_counter() - t0
        return P

    @staticmethod
    def _apply_with_correction(H, net, static):
        """``r ↦ q``: the cycle's ``v``, what it left ``s = r − A v``, and the network's ``q``
        (host grid levels: ``v`` and ``s`` are the levels' buffers, used before the next cycle)."""
        import torch

        A0 = H.levels[0].A

        def apply(r):
            rp = A0.pad(np.asarray(r, dtype=np.float64))
            vp = H.cycle(rp)
            sp = A0.residual(rp, vp)
            with torch.inference_mode():
                t = [torch.from_numpy(a.reshape((1,) + A0.padded)) for a in (rp, vp, sp)]
                q = net.direction(static, *t)[0].numpy()
            return interior(q, A0.dim).reshape(-1).copy()

        return apply

    aspreconditioner = directions
