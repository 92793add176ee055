"""``lostpet-cli`` registry commands, run in-process with the tiny model: JSON shapes, exit codes,
one-line errors."""

from __future__ import annotations

import json

import pytest

from photos import make_dog_photo
from reid_engine.cli import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main
from reid_engine.registry import Registry

SIZE = (96, 72)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _tiny_model(monkeypatch, tiny_embedder):
    monkeypatch.setattr("reid_engine.cli.common.load_embedder", lambda args, *a, **kw: tiny_embedder)


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def dogs(tmp_path):
    folder = tmp_path / "dogs"
    for seed in (1, 2, 3):
        for v in range(3):
            make_dog_photo(folder / f"rex{seed}" / f"{v}.jpg", seed, SIZE, variant=v)
    return folder


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code in (EXIT_OK, EXIT_PARTIAL), err
    return code, json.loads(out)


def test_register_show_edit_list_and_remove(capsys, data, dogs):
    code, dog = run_json(capsys, "register", dogs / "rex1" / "0.jpg", dogs / "rex1" / "1.jpg", "--tag", "A-1",
                         "--name", "Bella", "--status", "lost", "--date", "2026-03-01", "--data-dir", data)
    assert code == EXIT_OK and dog["tag"] == "A-1" and dog["status"] == "lost" and len(dog["photos"]) == 2
    _, shown = run_json(capsys, "show", "a-1", "--data-dir", data)
    assert shown["id"] == dog["id"] and shown["date"] == "2026-03-01"
    _, edited = run_json(capsys, "edit", f"id:{dog['id']}", "--location", "Harbour", "--data-dir", data)
    assert edited["location"] == "Harbour" and edited["name"] == "Bella"
    _, added = run_json(capsys, "add", "A-1", dogs / "rex1" / "2.jpg", "--data-dir", data)
    assert added["photo_count"] == 3
    _, listed = run_json(capsys, "list", "--status", "lost", "--data-dir", data)
    assert [d["tag"] for d in listed] == ["A-1"]

    code, _, err = run(capsys, "remove", "A-1", "--data-dir", data)
    assert code == EXIT_USAGE and "--yes" in err
    _, removed = run_json(capsys, "remove", "--photo", added["photos"][0]["id"], "--yes", "--data-dir", data)
    assert removed["dog"]["photo_count"] == 2
    _, removed = run_json(capsys, "remove", "A-1", "--yes", "--data-dir", data)
    assert removed["removed_dog"]["tag"] == "A-1"
    _, info = run_json(capsys, "info", "--data-dir", data)
    assert (info["dogs"], info["photos"], info["index_vectors"]) == (0, 0, 0)


def test_import_per_folder_then_search_json_and_each(capsys, data, dogs, tmp_path):
    code, summary = run_json(capsys, "import", dogs, "--per-folder", "--data-dir", data)
    assert code == EXIT_OK and summary["imported"] == 9 and summary["dogs_created"] == 3
    assert summary["failed"] == [] and summary["dogs"] == 3
    _, info = run_json(capsys, "info", "--data-dir", data)
    assert (info["dogs"], info["photos"], info["index_vectors"]) == (3, 9, 9)
    assert info["model"]["space_id"] and info["in_use_by"] == ""

    query = dogs / "rex2" / "1.jpg"
    _, result = run_json(capsys, "search", query, "-k", "2", "--data-dir", data)
    assert result["query"] == str(query) and len(result["matches"]) == 2
    top = result["matches"][0]
    assert {"tag", "name", "status", "score", "photo"} <= set(top)
    assert top["tag"] == "rex2" and top["score"] == pytest.approx(1.0, abs=1e-3) and top["rank"] == 1

    code, out, _ = run(capsys, "search", "--each", dogs / "rex1" / "0.jpg", dogs / "rex3" / "0.jpg",
                       "--json", "--data-dir", data)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == EXIT_OK and [obj["matches"][0]["tag"] for obj in lines] == ["rex1", "rex3"]
    assert [obj["query"] for obj in lines] == [str(dogs / "rex1" / "0.jpg"), str(dogs / "rex3" / "0.jpg")]

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    code, out, _ = run(capsys, "search", "--each", bad, dogs / "rex2" / "0.jpg", "--json", "--data-dir", data)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == EXIT_PARTIAL and lines[0]["matches"] == [] and "empty" in lines[0]["error"]
    assert lines[1]["matches"][0]["tag"] == "rex2" and "error" not in lines[1]

    _, combined = run_json(capsys, "search", dogs / "rex3" / "0.jpg", dogs / "rex3" / "1.jpg", "--data-dir", data)
    assert combined["query"] == [str(dogs / "rex3" / "0.jpg"), str(dogs / "rex3" / "1.jpg")]
    assert combined["matches"][0]["tag"] == "rex3"
    _, none = run_json(capsys, "search", query, "--status", "adopted", "--data-dir", data)
    assert none["matches"] == []

    code, out, _ = run(capsys, "import", dogs, "--per-folder", "--data-dir", data)  # a re-run skips all
    assert code == EXIT_OK and "skipped      9" in out


def test_import_with_an_unreadable_photo_exits_3_and_names_it(capsys, data, tmp_path):
    folder = tmp_path / "mixed"
    make_dog_photo(folder / "good.jpg", 1, SIZE)
    (folder / "bad.jpg").write_bytes(b"")
    code, summary = run_json(capsys, "import", folder, "--data-dir", data)
    assert code == EXIT_PARTIAL and summary["imported"] == 1
    assert [f["path"] for f in summary["failed"]] == [str(folder / "bad.jpg")]
    assert "empty" in summary["failed"][0]["reason"]


def test_errors_are_one_line_and_exit_1(capsys, data, tmp_path):
    code, out, err = run(capsys, "register", tmp_path / "nowhere.jpg", "--data-dir", data)
    assert code == EXIT_ERROR and out == ""
    assert err.count("\n") == 1 and "nowhere.jpg" in err and err.startswith("error: ")
    code, _, err = run(capsys, "show", "NOPE", "--data-dir", data)
    assert code == EXIT_ERROR and "NOPE" in err and err.count("\n") == 1
    make_dog_photo(tmp_path / "x.jpg", 1, SIZE)
    code, _, err = run(capsys, "register", tmp_path / "x.jpg", "--date", "31/03/2026", "--data-dir", data)
    assert code == EXIT_ERROR and "YYYY-MM-DD" in err
    code, _, err = run(capsys, "search", tmp_path / "x.jpg", "--status", "missing", "--data-dir", data)
    assert code == EXIT_ERROR and "Unknown status" in err
    code, _, err = run(capsys, "import", tmp_path / "no-such-folder", "--data-dir", data)
    assert code == EXIT_ERROR and "no-such-folder" in err


def test_while_another_program_writes_reads_work_and_writes_say_who(capsys, data, dogs, tiny_embedder):
    run_json(capsys, "import", dogs, "--per-folder", "--data-dir", data)
    with Registry.open(data, tiny_embedder, program="lostpet"):
        code, out, err = run(capsys, "register", dogs / "rex1" / "0.jpg", "--data-dir", data)
        assert code == EXIT_ERROR and "in use by lostpet (pid" in err and err.count("\n") == 1
        _, result = run_json(capsys, "search", dogs / "rex1" / "0.jpg", "--data-dir", data)
        assert result["matches"][0]["tag"] == "rex1"
        _, listed = run_json(capsys, "list", "--data-dir", data)
        assert len(listed) == 3
        _, info = run_json(capsys, "info", "--data-dir", data)
        assert info["dogs"] == 3 and info["in_use_by"].startswith("lostpet (pid")


def test_reindex(capsys, data, dogs):
    run_json(capsys, "import", dogs, "--data-dir", data)
    code, result = run_json(capsys, "reindex", "--data-dir", data)
    assert code == EXIT_OK and result["photos"] == result["index_vectors"] == 9 and result["problems"] == []


def test_search_with_a_region_and_a_prompt_without_clip_weights(capsys, data, dogs):
    run_json(capsys, "import", dogs, "--per-folder", "--data-dir", data)
    query = dogs / "rex2" / "2.jpg"
    code, plain = run_json(capsys, "search", query, "--data-dir", data)
    code, guided = run_json(capsys, "search", query, "--region", "0.25,0.25,0.5,0.5", "--guide-weight", "1",
                            "--data-dir", data)
    assert code == EXIT_OK and guided["guided"] is True and guided["guidance_note"] is None
    assert {m["tag"] for m in guided["matches"]} == {m["tag"] for m in plain["matches"]}
    assert [m["score"] for m in guided["matches"]] != [m["score"] for m in plain["matches"]]
    # No CLIP weights here: the prompt is dropped with a plain warning, and the search still runs.
    code, out, err = run(capsys, "search", query, "--prompt", "red collar", "--json", "--data-dir", data)
    result = json.loads(out)
    assert code == EXIT_OK and result["matches"] and result["guided"] is False
    assert "without the text prompt" in err and "Traceback" not in err


def test_a_region_with_several_query_photos_asks_for_each(capsys, data, dogs):
    run_json(capsys, "import", dogs, "--per-folder", "--data-dir", data)
    code, out, err = run(capsys, "search", dogs / "rex1" / "0.jpg", dogs / "rex1" / "1.jpg",
                         "--region", "1,1,20,20", "--data-dir", data)
    assert code == EXIT_ERROR and "--each" in err and len(err.strip().splitlines()) == 1


def test_set_crop_changes_the_embedded_box_and_show_reports_it(capsys, data, dogs):
    _, dog = run_json(capsys, "register", dogs / "rex2" / "0.jpg", "--tag", "B", "--no-crop", "--data-dir", data)
    photo = dog["photos"][0]
    assert photo["crop"] is None  # --no-crop: the whole photo
    _, cropped = run_json(capsys, "set-crop", photo["id"], "10,8,40,30", "--data-dir", data)
    w, h = photo["width"], photo["height"]
    assert cropped["crop"]["by"] == "user"
    assert cropped["crop"]["left"] == pytest.approx(10 / w) and cropped["crop"]["bottom"] == pytest.approx(38 / h)
    code, out, _ = run(capsys, "show", "B", "--data-dir", data)
    assert code == EXIT_OK and "cropped by hand" in out
    _, whole = run_json(capsys, "set-crop", photo["id"], "none", "--data-dir", data)
    assert whole["crop"] is None
    code, _, err = run(capsys, "set-crop", photo["id"], "1,2,three", "--data-dir", data)
    assert code == EXIT_ERROR and "x,y,w,h" in err
    _, info = run_json(capsys, "info", "--data-dir", data)
    assert info["photos"] == info["index_vectors"] == 1
