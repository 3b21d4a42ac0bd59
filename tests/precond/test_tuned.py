import numpy as np
import pytest

import learnsolve
from learnsolve.precond import OmegaTuner, tuned


def _synthetic(tuner, cost, rounds, A):
    for _ in range(rounds):
        arm = tuner.choose(A)
        tuner.observe(cost(tuner.grid[arm]))


def test_bandit_finds_the_best_arm_from_counts_only():
    A = learnsolve.problems.poisson((8, 8)).A
    best = 0.95
    cost = lambda w: int(100 + 40000 * (w - best) ** 2)  # noqa: E731
    tuner = tuned("mic0", seed=1)
    _synthetic(tuner, cost, 60, A)
    assert tuner.best_omega() == best
    # it exploits: the best arm is played far more than any other
    assert int(np.argmax(tuner.counts)) == list(tuner.grid).index(best)
    assert tuner.counts.sum() == 60 and len(tuner.history) == 60


def test_contextual_bandit_learns_omega_per_context():
    small = learnsolve.problems.poisson((6, 6)).A
    large = learnsolve.problems.poisson((40, 40)).A

    def cost(w, A):
        target = 0.8 if A.shape[0] < 100 else 0.99
        return int(50 + 5000 * (w - target) ** 2)

    tuner = tuned("mic0", contextual=True, seed=0)
    for t in range(120):
        A = small if t % 2 else large
        arm = tuner.choose(A)
        tuner.observe(cost(tuner.grid[arm], A))
    assert tuner.best_omega(small) == 0.8
    assert tuner.best_omega(large) == 0.99


def test_tuned_builds_real_preconditioners_and_is_reproducible():
    def run(seed):
        tuner = tuned("ssor", seed=seed)
        out = []
        for s in range(4):
            p = learnsolve.problems.diffusion(20, variance=1.0, seed=s)
            P = tuner(p.A)
            res = []
            x, info = learnsolve.krylov.cg(p.A, p.b, rtol=1e-8, M=P, residuals=res)
            assert info == 0 and learnsolve.relative_residual(p.A, x, p.b) < 1e-8
            tuner.observe(len(res) - 1)
            out.append((P.info["omega"], len(res) - 1))
        return out

    assert run(3) == run(3)


def test_tuner_errors():
    with pytest.raises(ValueError, match="tuned: unknown `method`"):
        OmegaTuner("ic0")
    with pytest.raises(ValueError, match="observe\\(\\) called before"):
        tuned().observe(10)
    t = tuned()
    t.choose(learnsolve.problems.poisson((4, 4)).A)
    with pytest.raises(ValueError, match="`iterations` must be >= 0"):
        t.observe(-1)
    assert np.isfinite(t.predicted_log_iterations()).all()
