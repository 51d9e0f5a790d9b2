"""A batch-synchronous variable-order BDF integrator in JAX (every subject of a chunk in lockstep).

Why: a one-step stiff method (Rodas5P, tried here first) needs a fresh Jacobian and LU
factorisation at every step; on this model that was ~90 % of the work. A multistep BDF method
reuses both over many steps (the iteration matrix ``I - c J`` is only
refactorised when the step size or order changes, the Jacobian only when Newton stalls), so
a step costs one or two right-hand-side evaluations and triangular solves. Reuse only pays
under a batch if the decisions are shared: here all lanes take the same step size and order
(the error norm is the largest over lanes), so "refactorise now" is one scalar decision and
the skipped work is really skipped (under ``vmap`` a conditional runs both branches). A trial
arm's subjects share the dose times and the day cycle, so their step-size needs are alike.

Method: the variable-order (1-5), quasi-constant step-size BDF in the NDF form of Shampine &
Reichelt (1997, SIAM J. Sci. Comput. 18:1, doi:10.1137/S1064827594276424), as SciPy's
``BDF`` implements it (backward-difference array ``D``, modified Newton with a rate test,
order and step selection after ``order + 1`` equal steps). Differences from SciPy, all for
reuse: (1) the step size is kept while the proposed change is within [1, 1.5), and the
iteration matrix is refactorised only when its coefficient has moved by more than 30 % (both as
CVODE does, Hindmarsh et al. 2005, ACM TOMS 31:363, doi:10.1145/1089014.1089020), (2) lanes
advance together, (3) outputs are read off the BDF interpolant, so output times do not cut
steps. Dose events are exact: each segment (constant inputs) is integrated on its own,
restarted at order 1.

Linear algebra: the model's sparsity (:mod:`nadsim.simulate._sparsity`). The Jacobian's 139
structural nonzeros come from one forward-mode JVP per column colour (9, not 48), and ``I - c J``
is factorised by the fixed-order sparse LU written as straight-line code over lane vectors
(~170 multiply-adds to factor, ~280 to solve, against a stored dense 48 x 48 inverse: 18 kB a lane
read at every Newton iteration). Arrays of that code are lane-minor (``(nnz, lanes)``), so each
line is one vector operation over the chunk and XLA fuses them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["make_lockstep_solver"]

MAX_ORDER = 5
NEWTON_MAXITER = 4
MIN_FACTOR, MAX_FACTOR = 0.2, 10.0
#: a proposed step-size increase below this factor is not taken (keeps the factorisation)
KEEP_BELOW = 1.5
#: first step after each event, h
H0 = 1e-6
#: a shared step below this (h; 3.6 us, 1000x below the first step after an event) drops the
#: lanes that force it (it once scaled with |t1| and, at 12 weeks, reached the first step itself)
DROP_BELOW = 1e-9

_kappa = np.array([0.0, -0.1850, -1 / 9, -0.0823, -0.0415, 0.0])
_gamma = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, MAX_ORDER + 1))])
_alpha = (1.0 - _kappa) * _gamma
_error_const = _kappa * _gamma + 1.0 / np.arange(1, MAX_ORDER + 2)


def make_lockstep_solver(f: Any, sp: Any, *, max_steps: int = 200_000) -> Any:
    """Build ``solve(Y, Q, t0, t1, times, j, out, rtol, atol) -> (Y_end, out, j, counts, ok)``.

    ``f(t, Y, Q)`` is the batched right-hand side (lanes on the leading axis of ``Y`` (n, d)
    and ``Q`` (n, p)); ``sp`` its :class:`~nadsim.simulate._sparsity.Sparsity`; ``t0``, ``t1`` and the output grid ``times`` (T,) are shared by all lanes.
    ``out`` (n, T, d) is the output buffer and ``j`` the index of the next output not yet
    written; rows for outputs with ``t0 <= times[j] < t1`` are written (the state at ``t0``
    included), as :func:`nadsim.simulate._rosenbrock.make_segment_solver` does. ``ok`` (n,) is
    False for lanes that produced non-finite values (they are frozen and excluded from the error
    control) and for every lane if the step size collapsed or ``max_steps`` ran out. ``counts``:
    steps (accepted and rejected), inversions of the iteration matrix and Jacobians of the batch.
    """
    import jax
    import jax.numpy as jnp

    gam = jnp.asarray(_gamma)
    alpha = jnp.asarray(_alpha)
    err_c = jnp.asarray(_error_const)
    ks = jnp.arange(MAX_ORDER + 1)

    from nadsim.simulate._sparsity import lu_code

    factor_src, solve_src = lu_code(sp.lu, style="xp")
    ns: dict[str, Any] = {"xp": jnp}
    exec("def factor(J, c):\n" + "\n".join(factor_src) + "\ndef lu_solve(lu, b):\n" + "\n".join(solve_src), ns)
    seeds = np.zeros((sp.n_colours, sp.n))
    seeds[np.asarray(sp.colour), np.arange(sp.n)] = 1.0
    seed_of_nz = np.asarray(sp.colour)[np.asarray(sp.cols)]
    rows = np.asarray(sp.rows)

    def jac(t: Any, Y: Any, Q: Any) -> Any:
        """Jacobian nonzeros (nnz, n): one JVP per column colour, entries picked from the
        compressed columns."""
        def one(seed: Any) -> Any:
            return jax.jvp(lambda y: f(t, y, Q), (Y,), (jnp.broadcast_to(seed, Y.shape),))[1]

        C = jnp.stack([one(jnp.asarray(seeds[g])) for g in range(sp.n_colours)])  # (G, n, d)
        return C[seed_of_nz, :, rows]

    def inverse(Jv: Any, c: Any) -> Any:
        """The factors of I - c J, (nlu, n), and whether every pivot was usable per lane."""
        lu, ok = ns["factor"]([Jv[k] for k in range(sp.nnz)], c)
        return jnp.stack(lu), ok

    def apply(LU: Any, b: Any) -> Any:
        x = ns["lu_solve"]([LU[s] for s in range(sp.lu.nnz)], [b[:, i] for i in range(sp.n)])
        return jnp.stack(x, axis=1)

    def rms(x: Any, alive: Any) -> Any:
        """Largest RMS norm over the live lanes."""
        v = jnp.sqrt(jnp.mean(x ** 2, axis=1))
        return jnp.max(jnp.where(alive, v, 0.0))

    def change_matrix(order: Any, factor: Any) -> Any:
        """(R U)^T of SciPy's ``change_D``, padded with the identity beyond ``order``."""
        i = jnp.arange(1, MAX_ORDER + 1)[:, None].astype(float)
        jj = jnp.arange(1, MAX_ORDER + 1)[None, :].astype(float)

        live = (ks[:, None] <= order) & (ks[None, :] <= order)

        def r(fac: Any) -> Any:  # SciPy's compute_R(order, fac), zero outside the live block
            M = jnp.zeros((MAX_ORDER + 1, MAX_ORDER + 1)).at[0].set(1.0)
            M = M.at[1:, 1:].set((i - 1 - fac * jj) / i)
            return jnp.where(live, jnp.cumprod(M, axis=0), 0.0)

        return jnp.where(live, r(factor) @ r(1.0), jnp.eye(MAX_ORDER + 1)).T

    def change_D(D: Any, order: Any, factor: Any, apply: Any) -> Any:
        """SciPy's ``change_D`` where ``apply``, else ``D`` unchanged (always computed: a
        ``lax.cond`` would copy the whole difference array on every step)."""
        M = jnp.where(apply, change_matrix(order, factor), jnp.eye(MAX_ORDER + 1))
        top = jnp.einsum("ab,bnd->and", M, D[: MAX_ORDER + 1])
        return D.at[: MAX_ORDER + 1].set(top)

    def interpolate(D: Any, order: Any, t: Any, h: Any, te: Any) -> Any:
        """The BDF interpolant at time ``te`` of the step that ended at ``t`` (length ``h``)."""
        m = jnp.arange(MAX_ORDER)
        x = (te - (t - h * m)) / (h * (1 + m))
        p = jnp.cumprod(x)
        p = jnp.where(m < order, p, 0.0)
        return D[0] + jnp.einsum("k,knd->nd", p, D[1: MAX_ORDER + 1])

    def solve(Y: Any, Q: Any, t0: Any, t1: Any, times: Any, j: Any, out: Any, rtol: Any,
              atol: Any) -> tuple[Any, Any, Any, Any, Any]:
        n, d = Y.shape
        T = times.shape[0]
        at_start = (j < T) & (times[jnp.minimum(j, T - 1)] <= t0)
        out = out.at[:, jnp.where(at_start, j, T)].set(Y, mode="drop")
        j = j + at_start.astype(j.dtype)
        newton_tol = jnp.maximum(10 * np.finfo(float).eps / rtol, jnp.minimum(0.03, jnp.sqrt(rtol)))

        h = jnp.minimum(H0, t1 - t0)
        F0 = f(t0, Y, Q)
        alive = jnp.all(jnp.isfinite(F0), axis=1) & jnp.all(jnp.isfinite(Y), axis=1)
        D = jnp.zeros((MAX_ORDER + 3, n, d), dtype=Y.dtype)
        D = D.at[0].set(Y).at[1].set(jnp.where(alive[:, None], F0 * h, 0.0))

        # Two loops, so that the big per-lane matrices are never carried through a conditional
        # (XLA copies a lax.cond's operands: ~0.8 ms a step for J and its inverse at 256 lanes):
        # the inner loop steps with J and the inverse fixed; it returns to the outer loop, which
        # refreshes them, when the iteration matrix is stale (c moved by more than 30 % since it
        # was formed: CVODE's rule; a halved step after a Newton failure always trips it) or
        # Newton failed with a Jacobian from an earlier step.
        # inner carry: t, h, order, n_equal, D, c_lu, jac_current, alive, j, out, counts, ok, need_jac
        def running(c: tuple) -> Any:
            t, _h, _o, _ne, _D, _clu, _jc, alive, _j, _out, nst, ok, _nj = c
            return (t < t1) & ok & (nst[0] < max_steps) & jnp.any(alive)

        def inner_cond(c: tuple) -> Any:
            t, h, order, _ne, _D, c_lu, _jc, _a, _j, _out, _nst, _ok, need_jac = c
            c_next = jnp.minimum(h, t1 - t) / alpha[order]
            return running(c) & ~need_jac & (jnp.abs(c_next / c_lu - 1.0) <= 0.3)

        def step(c: tuple, J: Any, Minv: Any) -> tuple:
            t, h, order, n_eq, D, c_lu, jac_cur, alive, j, out, nst, ok, _nj = c
            # land exactly on the segment end
            over = t + h > t1
            D = change_D(D, order, (t1 - t) / h, over)
            n_eq = jnp.where(over, 0, n_eq)
            h = jnp.where(over, t1 - t, h)
            t_new = t + h
            c_ = h / alpha[order]
            y_pred = jnp.einsum("k,knd->nd", (ks <= order).astype(Y.dtype), D[: MAX_ORDER + 1])
            scale = atol + rtol * jnp.abs(y_pred)
            psi = jnp.einsum("k,knd->nd", jnp.where((ks >= 1) & (ks <= order), gam, 0.0), D[: MAX_ORDER + 1]) / alpha[order]
            corr = 2.0 / (1.0 + c_ / c_lu)  # CVODE's correction for an iteration matrix of c_lu

            def newton_cond(s: tuple) -> Any:
                k, _y, _dd, conv, failed, _old, _n = s
                return (k < NEWTON_MAXITER) & ~jnp.any(failed) & ~jnp.all(conv)

            def newton(s: tuple) -> tuple:
                k, y, dd, conv, failed, dy_old, n_it = s
                live = alive & ~conv & ~failed
                Fy = f(t_new, y, Q)
                dy = corr * apply(Minv, c_ * Fy - psi - dd)
                dy_norm = jnp.sqrt(jnp.mean((dy / scale) ** 2, axis=1))
                rate = dy_norm / dy_old
                first = k == 0
                bad = ~jnp.all(jnp.isfinite(dy), axis=1) | (~first & ((rate >= 1) | (
                    rate ** (NEWTON_MAXITER - k) / (1 - rate) * dy_norm > newton_tol)))
                failed = failed | (live & bad)
                upd = live & ~bad
                y = jnp.where(upd[:, None], y + dy, y)
                dd = jnp.where(upd[:, None], dd + dy, dd)
                done_now = upd & ((dy_norm == 0) | (~first & (rate / (1 - rate) * dy_norm < newton_tol)))
                conv = conv | done_now
                n_it = jnp.where(upd, k + 1, n_it)
                return k + 1, y, dd, conv, failed, jnp.where(upd, dy_norm, dy_old), n_it

            init = (jnp.asarray(0), y_pred, jnp.zeros_like(y_pred), ~alive, jnp.zeros(n, bool),
                    jnp.full(n, jnp.inf), jnp.zeros(n, dtype=int))
            _k, y_new, dd, conv, newton_failed, _, n_it = jax.lax.while_loop(newton_cond, newton, init)
            # a lane whose values are no longer finite is dropped, not allowed to stall the batch
            nonfinite = alive & ~jnp.all(jnp.isfinite(y_new), axis=1)
            alive = alive & ~nonfinite
            conv = conv | nonfinite
            all_conv = jnp.all(conv | ~alive)

            # Newton failed: with an old Jacobian, go out for a fresh one (same step); else halve
            need_jac = ~all_conv & ~jac_cur
            safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + jnp.max(jnp.where(alive, n_it, 0)))
            scale_new = atol + rtol * jnp.abs(y_new)
            lane_err = jnp.sqrt(jnp.mean((err_c[order] * dd / scale_new) ** 2, axis=1))
            err = jnp.max(jnp.where(alive, lane_err, 0.0))
            accept = all_conv & (err <= 1.0)
            shrink = jnp.where(all_conv, jnp.maximum(MIN_FACTOR, safety * err ** (-1.0 / (order + 1))), 0.5)
            reject = ~accept & ~need_jac

            # accepted: update the differences (SciPy's recurrence), write outputs
            Da = D.at[order + 2].set(dd - D[order + 1]).at[order + 1].set(dd)
            for i in reversed(range(MAX_ORDER + 1)):
                Da = Da.at[i].set(jnp.where(i <= order, Da[i] + Da[i + 1], Da[i]))
            D = jnp.where(accept, Da, D)

            def write(s: tuple) -> tuple:
                jj, out = s
                yv = interpolate(D, order, t_new, h, times[jj])
                yv = jnp.where(alive[:, None], yv, out[:, jj])
                return jj + 1, out.at[:, jj].set(yv)

            def more(s: tuple) -> Any:
                jj, _ = s
                return accept & (jj < T) & (times[jnp.minimum(jj, T - 1)] < t_new) & (times[jnp.minimum(jj, T - 1)] < t1)

            j, out = jax.lax.while_loop(more, write, (j, out))
            n_eq = jnp.where(accept, n_eq + 1, n_eq)
            jac_cur = jnp.where(accept, False, jac_cur)

            # order and step-size selection after order + 1 equal steps (SciPy's rule)
            assess = accept & (n_eq >= order + 1)
            e_m = jnp.where(order > 1, rms(err_c[order - 1] * D[order] / scale_new, alive), jnp.inf)
            e_p = jnp.where(order < MAX_ORDER, rms(err_c[jnp.minimum(order + 1, MAX_ORDER)] * D[jnp.minimum(order + 2, MAX_ORDER + 2)] / scale_new, alive), jnp.inf)
            norms = jnp.stack([e_m, err, e_p])
            factors = jnp.maximum(norms, 1e-300) ** (-1.0 / (order + jnp.arange(3)))
            best = jnp.argmax(factors)
            factor = jnp.minimum(MAX_FACTOR, safety * factors[best])
            change = assess & ((best != 1) | (factor < 1.0) | (factor >= KEEP_BELOW))
            new_order = jnp.where(change, order + best - 1, order)
            # one change of the differences: the rejected step's shrink, or the accepted one's
            # new order and step size
            D = change_D(D, new_order, jnp.where(reject, shrink, factor), reject | change)
            h = jnp.where(reject, h * shrink, jnp.where(change, h * factor, h))
            n_eq = jnp.where(reject | change, 0, n_eq)
            t = jnp.where(accept, t_new, t)
            # a lane that drives the shared step towards zero (a subject blowing up) is dropped
            # before it can sink the chunk: below DROP_BELOW, a lane whose Newton iteration
            # failed, or whose own error is a sizeable share of the tolerance (> 1 %) and within
            # 2x of the largest, is marked failed, and the others go on
            tiny = h < jnp.maximum(DROP_BELOW, 1e-13 * jnp.abs(t1))
            culprit = alive & tiny & (newton_failed | ((lane_err > 0.01) & (lane_err >= 0.5 * err)))
            alive = alive & ~culprit
            ok = ok & (h > 1e-12 * jnp.maximum(1.0, jnp.abs(t1)))
            nst = nst + jnp.asarray([1, 0, 0])
            return (t, h, new_order, n_eq, D, c_lu, jac_cur, alive, j, out, nst, ok, need_jac)

        def outer_cond(oc: tuple) -> Any:
            return running(oc[2])

        def outer_body(oc: tuple) -> tuple:
            J, Minv, c = oc
            t, h, order, n_eq, D, _clu, jac_cur, alive, j, out, nst, ok, need_jac = c
            h_next = jnp.minimum(h, t1 - t)
            y_pred = jnp.einsum("k,knd->nd", (ks <= order).astype(Y.dtype), D[: MAX_ORDER + 1])
            J = jax.lax.cond(need_jac, lambda: jac(t + h_next, y_pred, Q), lambda: J)
            c_lu = h_next / alpha[order]
            Minv, pivots_ok = inverse(J, c_lu)
            alive = alive & pivots_ok  # a lane with a singular iteration matrix fails, alone
            nst = nst + jnp.stack([0, 1, need_jac.astype(int)])
            c = (t, h, order, n_eq, D, c_lu, jac_cur | need_jac, alive, j, out, nst, ok, jnp.asarray(False))
            c = jax.lax.while_loop(inner_cond, lambda c: step(c, J, Minv), c)
            return J, Minv, c

        c0 = (t0, h, jnp.asarray(1), jnp.asarray(0), D, h / alpha[1], jnp.asarray(False), alive, j, out,
              jnp.asarray([0, 0, 0]), jnp.asarray(True), jnp.asarray(True))
        J0 = jnp.zeros((sp.nnz, n), dtype=Y.dtype)
        M0 = jnp.zeros((sp.lu.nnz, n), dtype=Y.dtype)
        _J, _M, c = jax.lax.while_loop(outer_cond, outer_body, (J0, M0, c0))
        t, _h, _order, _ne, D, _clu, _jc, alive, j, out, nst, ok, _nj = c
        return D[0], out, j, nst, alive & ok & (t >= t1)

    return solve
