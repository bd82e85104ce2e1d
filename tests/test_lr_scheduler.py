"""wgtorch.optim.lr_scheduler against torch's (the oracle): lr (and momentum)
sequences equal torch's exactly, state dicts equal torch's and resume,
warnings and errors."""
import copy
import warnings

import pytest

import wgtorch


def make_opt(lib, kind="SGD"):
    a, b = lib.zeros(2, requires_grad=True), lib.zeros(3, requires_grad=True)
    groups = [{"params": [a]}, {"params": [b], "lr": 0.05}]
    if kind == "SGD":
        return lib.optim.SGD(groups, lr=0.1, momentum=0.9)
    return lib.optim.Adam(groups, lr=0.1)


def _s(lib):
    return lib.optim.lr_scheduler


SCHEDULERS = {
    "step": lambda L, o: _s(L).StepLR(o, step_size=7, gamma=0.5),
    "multistep": lambda L, o: _s(L).MultiStepLR(o, milestones=[3, 8, 8, 20], gamma=0.3),
    "exponential": lambda L, o: _s(L).ExponentialLR(o, gamma=0.9),
    "cosine": lambda L, o: _s(L).CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "lambda": lambda L, o: _s(L).LambdaLR(o, lr_lambda=lambda e: 0.95 ** e),
    "lambda_list": lambda L, o: _s(L).LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9 ** e]),
    "linear": lambda L, o: _s(L).LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=12),
    "linear_down": lambda L, o: _s(L).LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=9),
    "onecycle": lambda L, o: _s(L).OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=30),
    "onecycle_3phase_linear": lambda L, o: _s(L).OneCycleLR(
        o, max_lr=0.3, epochs=3, steps_per_epoch=10, anneal_strategy="linear", three_phase=True,
        base_momentum=0.8, max_momentum=[0.9, 0.95]),
    "sequential": lambda L, o: _s(L).SequentialLR(
        o, [_s(L).LinearLR(o, start_factor=0.1, total_iters=5), _s(L).ExponentialLR(o, gamma=0.9)], milestones=[5]),
    "sequential3": lambda L, o: _s(L).SequentialLR(
        o, [_s(L).StepLR(o, 2, gamma=0.5), _s(L).CosineAnnealingLR(o, T_max=6), _s(L).MultiStepLR(o, [3, 4])],
        milestones=[6, 15]),
}
ADAM = {"onecycle_3phase_linear", "cosine"}


def _state(opt):
    return [(g["lr"], g.get("momentum"), g.get("betas")) for g in opt.param_groups]


def run(lib, name, steps=30, opt=None, sched=None):
    opt = opt or make_opt(lib, "Adam" if name in ADAM else "SGD")
    sched = sched or SCHEDULERS[name](lib, opt)
    seq = [(sched.get_last_lr(), _state(opt))]
    for _ in range(steps):
        opt.step()
        sched.step()
        seq.append((sched.get_last_lr(), _state(opt)))
    return seq, opt, sched


def _plain(sd):
    """A scheduler state dict without the callables torch and wgtorch cannot share."""
    return {k: v for k, v in sd.items() if k not in ("anneal_func",)}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_lr_sequence_and_state_dict_match_torch(oracle, name):
    tseq, _, tsched = run(oracle, name)
    wseq, _, wsched = run(wgtorch, name)
    assert wseq == tseq  # exact: the same formulas in the same order
    assert len({lr for lrs, _ in wseq for lr in lrs}) > 3  # the schedule does change the lr
    assert _plain(wsched.state_dict()) == _plain(tsched.state_dict())


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_state_dict_resume(oracle, name):
    full, _, _ = run(wgtorch, name)
    _, opt, sched = run(wgtorch, name, steps=12)
    osd, ssd = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    opt2 = make_opt(wgtorch, "Adam" if name in ADAM else "SGD")
    sched2 = SCHEDULERS[name](wgtorch, opt2)
    opt2.load_state_dict(osd)
    sched2.load_state_dict(ssd)
    rest, _, _ = run(wgtorch, name, steps=18, opt=opt2, sched=sched2)
    assert rest == full[12:]
    # a torch scheduler's state dict (plain Python values) resumes a wgtorch scheduler the same way
    _, topt, tsched = run(oracle, name, steps=12)
    opt3 = make_opt(wgtorch, "Adam" if name in ADAM else "SGD")
    sched3 = SCHEDULERS[name](wgtorch, opt3)
    opt3.load_state_dict(topt.state_dict())  # no tensors: nothing has a gradient
    sched3.load_state_dict(_plain(tsched.state_dict()))
    rest3, _, _ = run(wgtorch, name, steps=18, opt=opt3, sched=sched3)
    assert rest3 == full[12:]


@pytest.mark.parametrize("mode,threshold_mode,min_lr", [("min", "rel", 0.0), ("max", "abs", [0.01, 0.004])])
def test_reduce_lr_on_plateau(oracle, mode, threshold_mode, min_lr):
    metrics = [1.0, 0.9, 0.9, 0.91, 0.95, 0.89, 0.95, 0.96, 0.97, 0.5, 0.5, 0.5, 0.52, 0.6, 0.3, 0.3, 0.31, 0.32,
               0.33, 0.34, 0.35, 0.2, 0.2, 0.2, 0.2, 0.2, 0.9, 0.9, 0.9, 0.9]
    seqs, sds = [], []
    for lib in (oracle, wgtorch):
        opt = make_opt(lib)
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=mode, factor=0.5, patience=2, cooldown=1,
                                                         threshold=0.01, threshold_mode=threshold_mode,
                                                         min_lr=min_lr)
        seq = []
        for m in metrics:
            opt.step()
            sched.step(lib.tensor(m))  # a 0-d tensor metric, as from a loss
            seq.append((sched.get_last_lr(), _state(opt), sched.num_bad_epochs, sched.cooldown_counter))
        seqs.append(seq)
        sds.append(sched.state_dict())
    assert seqs[1] == seqs[0]
    assert len({tuple(s[0]) for s in seqs[1]}) > 2
    assert sds[1] == sds[0]


def test_step_with_epoch_uses_closed_form(oracle):
    seqs = []
    for lib in (oracle, wgtorch):
        opt = make_opt(lib)
        sched = lib.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        seq = []
        for epoch in (1, 5, 7, 14, 3):
            opt.step()
            with pytest.warns(UserWarning, match="epoch parameter"):
                sched.step(epoch)
            seq.append(sched.get_last_lr())
        seqs.append(seq)
    assert seqs[1] == seqs[0] and seqs[1][3] == [0.1 * 0.5 ** 4, 0.05 * 0.5 ** 4]


def test_call_order_warning(oracle):
    for lib in (oracle, wgtorch):
        opt = make_opt(lib)
        sched = lib.optim.lr_scheduler.StepLR(opt, 2)
        with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`"):
            sched.step()
        opt = make_opt(lib)
        sched = lib.optim.lr_scheduler.StepLR(opt, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            opt.step()
            sched.step()


def _opt(L):
    return make_opt(L)


def _sequential(L, schedulers, milestones=(3,)):
    o = _opt(L)
    return _s(L).SequentialLR(o, schedulers(o), list(milestones))


ERRORS = {
    "not_optimizer": lambda L: _s(L).StepLR(object(), 2),
    "linear_start": lambda L: _s(L).LinearLR(_opt(L), start_factor=0),
    "linear_end": lambda L: _s(L).LinearLR(_opt(L), end_factor=1.5),
    "resume_without_initial_lr": lambda L: _s(L).StepLR(_opt(L), 3, last_epoch=5),
    "lambda_count": lambda L: _s(L).LambdaLR(_opt(L), [lambda e: 1.0]),
    "onecycle_no_steps": lambda L: _s(L).OneCycleLR(_opt(L), 1.0),
    "onecycle_total_steps": lambda L: _s(L).OneCycleLR(_opt(L), 1.0, total_steps=0),
    "onecycle_epochs": lambda L: _s(L).OneCycleLR(_opt(L), 1.0, epochs=-1, steps_per_epoch=3),
    "onecycle_pct_start": lambda L: _s(L).OneCycleLR(_opt(L), 1.0, total_steps=10, pct_start=1),
    "onecycle_anneal": lambda L: _s(L).OneCycleLR(_opt(L), 1.0, total_steps=10, anneal_strategy="exp"),
    "onecycle_max_lr_len": lambda L: _s(L).OneCycleLR(_opt(L), [1.0], total_steps=10),
    "onecycle_no_momentum": lambda L: _s(L).OneCycleLR(
        L.optim.Adagrad([L.zeros(1, requires_grad=True)]), 1.0, total_steps=10),
    "onecycle_past_end": lambda L: [s.step() for s in [_s(L).OneCycleLR(_opt(L), 1.0, total_steps=3)] * 4],
    "plateau_factor": lambda L: _s(L).ReduceLROnPlateau(_opt(L), factor=1.0),
    "plateau_mode": lambda L: _s(L).ReduceLROnPlateau(_opt(L), mode="avg"),
    "plateau_threshold_mode": lambda L: _s(L).ReduceLROnPlateau(_opt(L), threshold_mode="x"),
    "plateau_min_lrs": lambda L: _s(L).ReduceLROnPlateau(_opt(L), min_lr=[0.1]),
    "sequential_empty": lambda L: _s(L).SequentialLR(_opt(L), [], []),
    "sequential_milestones": lambda L: _sequential(L, lambda o: [_s(L).StepLR(o, 2)]),
    "sequential_plateau": lambda L: _sequential(L, lambda o: [_s(L).StepLR(o, 2), _s(L).ReduceLROnPlateau(o)]),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_match_torch(oracle, case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as expected:
            ERRORS[case](oracle)
        with pytest.raises(expected.type) as got:
            ERRORS[case](wgtorch)
    assert str(got.value) == str(expected.value)


def test_lr_scheduler_is_a_submodule():
    import wgtorch.optim.lr_scheduler as m
    assert m is wgtorch.optim.lr_scheduler and m.StepLR.__module__ == "wgtorch.optim.lr_scheduler"
    assert issubclass(m.ReduceLROnPlateau, m.LRScheduler)
