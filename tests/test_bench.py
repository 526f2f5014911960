"""Each benchmark runs end to end at its tiny size and ends with its table.

Only completion and output are checked: timings on a shared test machine mean nothing.
"""

import pytest

from bench import (
    api,
    browser_formation,
    browser_map,
    embeddings,
    formation,
    inference,
    large_maps,
    load_memory,
    regularizer,
    soak,
    train_step,
)


def last_table(output: str) -> list[str]:
    """The markdown table that closes the output, one string per line."""
    lines = output.rstrip().splitlines()
    start = len(lines)
    while start > 0 and lines[start - 1].startswith("|"):
        start -= 1
    return lines[start:]


@pytest.mark.parametrize(
    "benchmark,header_word,data_rows",
    [
        (inference, "time cond/masked", 7),  # 4 uniform + 3 per-sample fractions
        (regularizer, "speedup", 5),
        (train_step, "overhead", 3),
        # These three start servers or fit every reducer: over ten seconds each.
        # Rows: 2 inputs x (UMAP, t-SNE); route and cached embedding; one per request kind.
        pytest.param(embeddings, "speedup warm", 4, marks=pytest.mark.slow),
        pytest.param(api, "p50 ms", 2, marks=pytest.mark.slow),
        pytest.param(soak, "p99 ms", 11, marks=pytest.mark.slow),
    ],
)
def test_benchmark_runs_tiny_and_prints_its_table(benchmark, header_word, data_rows, capsys):
    results = benchmark.main(["--tiny"])
    table = last_table(capsys.readouterr().out)
    assert results
    assert len(table) == 2 + data_rows
    assert header_word in table[0] + table[-1]
    assert set(table[1]) <= set("|-")
    assert any("PASS" in row or "FAIL" in row for row in table[2:])


@pytest.mark.slow  # a second process, to measure its own peak
def test_load_memory_benchmark_runs_tiny_and_prints_its_table(capsys):
    """No target to pass or fail: it states what a load holds, per byte of checkpoint."""
    (result,) = load_memory.main(["--tiny"])
    table = last_table(capsys.readouterr().out)
    assert len(table) == 3 and "peak per byte" in table[0]
    assert result["peak_per_byte"] >= result["kept_per_byte"] > 0


@pytest.mark.slow
def test_formation_benchmark_runs_tiny_and_prints_its_table(capsys):
    """Slow: even tiny, it trains the demo recipe for an epoch, twice."""
    results = formation.main(["--tiny"])
    table = last_table(capsys.readouterr().out)
    assert set(results) == {"demo", "cifar", "job_pca", "job_umap"}
    assert len(table) == 2 + 4 and "target" in table[0]
    assert all("PASS" in row or "FAIL" in row for row in table[2:])


@pytest.mark.slow
def test_train_step_profile_runs_tiny(capsys):
    train_step.main(["--tiny", "--profile"])
    output = capsys.readouterr().out
    assert "| all operators" in output


@pytest.mark.slow
@pytest.mark.browser
def test_large_maps_and_the_browser_on_them_run_tiny(tmp_path, capsys):
    """bench.large_maps at its tiny size, kept, then bench.browser_map on what it kept."""
    assert large_maps.main(["--tiny", "--keep", str(tmp_path)])
    table = last_table(capsys.readouterr().out)
    assert len(table) == 2 + 4  # 2 inputs x (UMAP, t-SNE)
    assert "trustworthiness" in table[0]
    rows = browser_map.main(["--tiny", str(tmp_path), "--model", "cifar-tiny"])
    table = last_table(capsys.readouterr().out)
    assert len(rows) == 3 and len(table) == 2 + 3  # hover, zoom to the first and last frame
    assert all("PASS" in row or "FAIL" in row for row in table[2:])


@pytest.mark.slow
@pytest.mark.browser
def test_browser_formation_runs_tiny_and_prints_its_table(capsys):
    results = browser_formation.main(["--tiny"])
    table = last_table(capsys.readouterr().out)
    assert [result["epochs"] for result in results] == [3, 5]
    # Every epoch after the first was shown, one step each.
    assert all(len(result["steps"]) == result["epochs"] - 1 for result in results)
    assert len(table) == 2 + 2 and "step shown" in table[0]
    assert all("PASS" in row or "FAIL" in row for row in table[2:])
