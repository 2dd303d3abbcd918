"""bench.scan_speed's profile: every part of the minGRU / minLSTM step is timed, and the printed
breakdown names the step's split and both floors."""

from __future__ import annotations

import pytest

from bench import scan_speed

PARTS = {"step", "op_forward", "op_backward", "gemm_forward", "gemm_backward", "kernel_forward",
         "kernel_backward", "memory_pass"}


def test_profile_times_every_part_and_prints_the_floors(capsys):
    times = scan_speed.profile_times(["mingru", "minlstm"], [8], repeats=1)
    for model in ("mingru", "minlstm"):
        assert set(times[model][8]) == PARTS | {"chunks"}
        assert all(seconds > 0 for seconds in times[model][8].values())
        assert times[model][8]["chunks"] == 1  # T = 8 fits one chunk
    scan_speed.print_profile(times)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" T ")[0] for line in lines] == ["mingru", "minlstm"]
    for line in lines:
        for words in ("op ", "forward", "backward", "rest", "GEMMs", "gate kernels", "chunks",
                      "memory floor", "GEMM floor"):
            assert words in line


def test_profile_rejects_other_models():
    with pytest.raises(ValueError, match=r"models must be mingru or minlstm, got \['gru'\]"):
        scan_speed.profile_times(["gru"], [8], repeats=1)
