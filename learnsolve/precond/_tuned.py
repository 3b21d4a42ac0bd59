"""Relaxation parameters learned from a stream of related systems (bandits).

Tuning ω of relaxed MIC(0) or SSOR needs no network: a bandit over a grid of
ω, fed only the iteration count of each solve, finds the best fixed ω of a
stream of related systems; the contextual variant predicts ω from cheap
features of the matrix, so different systems in one stream can get different
ω.  Both are Thompson samplers on ``log(iterations)``, which makes the cost
comparable across sizes and keeps the arithmetic O(arms · features²).
"""

from __future__ import annotations

import numpy as np

from .._validation import as_csr
from ._factored import mic0, ssor

GRIDS = {
    "mic0": (0.0, 0.5, 0.8, 0.9, 0.95, 0.97, 0.99, 1.0),
    "ssor": (1.0, 1.2, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9),
}
BUILDERS = {"mic0": mic0, "ssor": ssor}


def matrix_features(A):
    """Cheap features of SPD ``A`` for the contextual tuner: ``[1, log10 n, log10(max diag / min diag)]``.

    Size drives how much a relaxed factorization gains; the diagonal's range
    is a free proxy for the coefficient contrast.  (Two more features — the
    spread of ln diag and the scaled off-diagonal row sum — made the
    contextual bandit's regret worse on 50 systems: 395 against 325
    iterations, more coefficients to learn.)

    Examples
    --------
    >>> import learnsolve
    >>> learnsolve.precond.matrix_features(learnsolve.problems.poisson((10, 10)).A).tolist()
    [1.0, 2.0, 0.0]
    """
    A = as_csr(A, "learnsolve.precond.matrix_features")
    d = A.diagonal()
    return np.array([1.0, np.log10(A.shape[0]), np.log10(d.max() / d.min())])


class OmegaTuner:
    """Choose ω for ``mic0``/``ssor`` per system; learn from iteration counts.

    Use it as a preconditioner factory on a stream: ``P = tuner(A)`` picks an
    ω and builds the preconditioner, then ``tuner.observe(iterations)``
    reports how many CG iterations the solve took.

    Parameters
    ----------
    method : {'mic0', 'ssor'}
    grid : sequence of float, optional
        Candidate ω values (arms); default ``GRIDS[method]``.
    contextual : bool
        Predict ``log(iterations)`` per arm from :func:`matrix_features`
        (Bayesian linear regression) instead of one mean per arm.
    prior_scale : float
        Prior standard deviation of the per-arm coefficients (log-iterations).
    seed : int
        Seed of the Thompson sampler (runs are reproducible).

    Attributes
    ----------
    history : list of (omega, iterations)
    counts : numpy.ndarray
        How often each arm was played.

    Examples
    --------
    >>> import learnsolve
    >>> tuner = learnsolve.precond.tuned("mic0", seed=0)
    >>> for s in range(5):
    ...     p = learnsolve.problems.diffusion(32, variance=1.0, seed=s)
    ...     res = []
    ...     x, info = learnsolve.krylov.cg(p.A, p.b, M=tuner(p.A), rtol=1e-6, residuals=res)
    ...     tuner.observe(len(res) - 1)
    >>> len(tuner.history), 0.0 <= tuner.best_omega() <= 1.0
    (5, True)
    """

    def __init__(self, method="mic0", grid=None, *, contextual=False, prior_scale=3.0,
                 noise_scale=0.3, seed=0):
        func = "learnsolve.precond.tuned"
        if method not in BUILDERS:
            raise ValueError(f"{func}: unknown `method`={method!r}; use 'mic0' or 'ssor'.")
        self.method = method
        self.grid = np.asarray(GRIDS[method] if grid is None else grid, dtype=float)
        if self.grid.ndim != 1 or self.grid.size < 1:
            raise ValueError(f"{func}: `grid` must be a non-empty sequence of ω values.")
        self.contextual = bool(contextual)
        self.n_features = 3 if contextual else 1
        k, f = self.grid.size, self.n_features
        # Per arm: precision matrix and precision-weighted mean of a Gaussian
        # posterior over coefficients of log(iterations) ~ features.
        self._precision = np.repeat(np.eye(f)[None] / prior_scale**2, k, axis=0)
        self._b = np.zeros((k, f))
        self._noise = float(noise_scale) ** 2
        self._rng = np.random.default_rng(seed)
        self._pending = None
        self.counts = np.zeros(k, dtype=int)
        self.history = []

    def _features(self, A):
        return matrix_features(A) if self.contextual else np.ones(1)

    def choose(self, A):
        """Index of the arm to play on ``A`` (one Thompson draw per arm)."""
        x = self._features(A)
        draws = np.empty(self.grid.size)
        for a in range(self.grid.size):
            cov = np.linalg.inv(self._precision[a])
            theta = self._rng.multivariate_normal(cov @ self._b[a], cov)
            draws[a] = x @ theta  # prior mean 0 is optimistic: untried arms get tried
        arm = int(np.argmin(draws))
        self._pending = (arm, x)
        return arm

    def __call__(self, A):
        """Pick ω for ``A`` and return the preconditioner (``info['omega']`` records it)."""
        arm = self.choose(A)
        return BUILDERS[self.method](A, self.grid[arm])

    def observe(self, iterations):
        """Report the iteration count of the last solve (the only feedback)."""
        if self._pending is None:
            raise ValueError("learnsolve.precond.tuned: observe() called before a preconditioner "
                             "was built; call tuner(A) first.")
        if not iterations >= 0:
            raise ValueError(f"learnsolve.precond.tuned: `iterations` must be >= 0, got {iterations!r}.")
        arm, x = self._pending
        y = np.log(1.0 + float(iterations))
        self._precision[arm] += np.outer(x, x) / self._noise
        self._b[arm] += x * y / self._noise
        self.counts[arm] += 1
        self.history.append((float(self.grid[arm]), int(iterations)))
        self._pending = None

    def predicted_log_iterations(self, A=None):
        """Posterior mean of ``log(1 + iterations)`` for every arm (at ``A`` if contextual)."""
        x = self._features(A) if self.contextual else np.ones(1)
        return np.array([x @ np.linalg.solve(self._precision[a], self._b[a])
                         for a in range(self.grid.size)])

    def best_omega(self, A=None):
        """The ω with the lowest predicted iteration count (at ``A`` if contextual)."""
        pred = self.predicted_log_iterations(A)
        tried = self.counts > 0
        pred = np.where(tried, pred, np.inf) if tried.any() else pred
        return float(self.grid[int(np.argmin(pred))])


def tuned(method="mic0", grid=None, *, contextual=False, seed=0, **kwargs):
    """An :class:`OmegaTuner`: ω of ``mic0``/``ssor`` learned from iteration counts.

    See :class:`OmegaTuner`; ``benchmarks/tuned_regret.py`` plots its regret
    against the best fixed ω on a stream of ConDiff-type systems.
    """
    return OmegaTuner(method, grid, contextual=contextual, seed=seed, **kwargs)
