"""`ocpipe export web`: a real trained workspace exported, then the site served by a
plain static file server and driven in Debian's chromium with every request
outside 127.0.0.1 blocked. The page must answer what `ocpipe predict` answers and
draw the heat map `ocpipe explain` draws."""

from __future__ import annotations

import base64
import functools
import http.server
import io
import json
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import GRACE_HOPPER, make_source
from PIL import Image
from typer.testing import CliRunner

from ocpipe.backbone import COLOUR_FEATURES
from ocpipe.cli import app
from ocpipe.manifest import read_table
from ocpipe.workspace import Workspace

runner = CliRunner()
CHARACTERS = {"Maxus": "Robot", "Hydra": "Zombie", "Ilya": "Pilot"}
SCENES = {"Maxus+Hydra": "Robot+Zombie", "Hydra+Ilya": "Zombie+Pilot"}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def test_import_and_help_stay_light():
    """Neither `import ocpipe.export` nor `ocpipe export web --help` loads TensorFlow or the ONNX packages."""
    heavy = ("tensorflow", "keras", "gradio", "onnx", "tf2onnx", "onnxruntime")
    code = (f"import sys, ocpipe, ocpipe.cli, ocpipe.export; print([m for m in {heavy!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    result = subprocess.run([sys.executable, "-m", "ocpipe.cli", "export", "web", "--help"], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0 and "--phase" in result.stdout and "--title" in result.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three characters x 3 animations (fullbody: transparent, plain and busy backgrounds)
    and two-character scenes (multi), trained with a smaller view budget than the
    default so the fixture takes about a minute."""
    from ocpipe import config
    from ocpipe import train as train_module
    from ocpipe.ingest import ingest
    from ocpipe.train import TrainOptions, train_phase

    workspace = Workspace.at(tmp_path_factory.mktemp("exported") / "ws")
    formats = [".apng", ".mp4", ".gif", "seq", ".webm", ".webp"]
    for index, (name, sprite) in enumerate(CHARACTERS.items()):
        for number in range(3):
            make_source(workspace.raw / "fullbody" / name, formats[(number + index) % len(formats)], character=sprite,
                        tilt=(number - 1) * 8.0, seed=number, background=["solid", "gradient", "noise"][number], name=f"a{number}")
    for label, sprites in SCENES.items():
        for number in range(3):
            make_source(workspace.raw / "multi" / label, [".mp4", ".png", ".webm"][number], character=sprites, phase="multi",
                        seed=number + 5, background=["solid", "gradient", "noise"][number], name=f"m{number}")
    assert ingest([workspace.raw], workspace).ok
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "VIEW_BUDGET", 400)  # augmented views per phase (default 3000)
        patch.setattr(train_module, "MIN_SYNTHETIC", 24)  # synthetic multi scenes (default 240)
        for phase in ("fullbody", "multi"):
            train_phase(workspace, phase, TrainOptions(seed=0), log=lambda line: None)
    return workspace


@pytest.fixture(scope="module")
def site(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    result = runner.invoke(app, ["export", "web", str(out), "--workspace", str(trained.root), "--title", "Characters by Ada <Test>"])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.mark.slow
def test_export_writes_a_self_contained_site(trained, site):
    out, output = site
    assert "Wrote" in output and " MB in " in output and "runtime 14.7 MB" in output
    for name in ("index.html", "app.mjs", "model.mjs", "preprocess.mjs", "style.css", "site.json", "README.md",
                 "runtime/ort.wasm.bundle.min.mjs", "runtime/ort-wasm-simd-threaded.wasm", "runtime/LICENSE",
                 "runtime/ThirdPartyNotices.txt", "models/fullbody.json", "models/multi.json"):
        assert (out / name).is_file(), name
    # One trunk file for both phases: the frozen backbone is the same network.
    assert len(list((out / "models").glob("*.onnx"))) == 1
    readme = (out / "README.md").read_text()
    assert readme.startswith("---\n") and "\nsdk: static\n" in readme and "GitHub Pages" in readme and "iframe" in readme
    page = (out / "index.html").read_text()
    assert "Characters by Ada &lt;Test&gt;" in page and "<Test>" not in page  # her title, escaped
    for name in ("index.html", "app.mjs", "model.mjs", "preprocess.mjs", "style.css"):
        text = (out / name).read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name
    labels = json.loads((trained.model_dir("fullbody") / "labels.json").read_text())
    meta = json.loads((out / "models" / "fullbody.json").read_text())
    assert meta["classes"] == labels["classes"] and meta["open_set"]["threshold"] == labels["open_set"]["threshold"]
    assert len(meta["head"]["kernel"]) == meta["head"]["features"] * len(meta["classes"]) == (512 + 1024 + COLOUR_FEATURES) * 3
    assert meta["head"]["gradcam"] == {"layer": "last_conv_act", "output": "last_conv_act", "offset": 512, "channels": 1024}
    # Examples: test-split frames, byte for byte, a few per character.
    test_frames = {trained.absolute(row["path"]).read_bytes(): row["labels"] for row in read_table(trained.manifest)
                   if row["split"] == "test"}
    for phase in ("fullbody", "multi"):
        examples = json.loads((out / "models" / f"{phase}.json").read_text())["examples"]
        assert examples
        for example in examples:
            assert test_frames[(out / example["file"]).read_bytes()].replace(";", ", ") == example["label"]
    assert {e["label"] for e in meta["examples"]} == set(CHARACTERS)


@pytest.mark.slow
def test_export_refuses_with_one_line(trained, site, tmp_path, monkeypatch):
    out, _ = site
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("hers")
    cases = [
        (["export", "web", str(foreign), "--workspace", str(trained.root)], "not empty"),
        (["export", "web", str(tmp_path / "a"), "--workspace", str(trained.root), "--phase", "ears"], "unknown phase ears"),
        (["export", "web", str(tmp_path / "b"), "--workspace", str(trained.root), "--phase", "eyes"], "ocpipe train"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert (foreign / "notes.txt").read_text() == "hers"  # untouched
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # as if the export extra were not installed
    result = runner.invoke(app, ["export", "web", str(tmp_path / "c"), "--workspace", str(trained.root)])
    assert result.exit_code == 1 and "pip install 'ocpipe[export]'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    monkeypatch.undo()
    # An earlier export is replaced in place.
    result = runner.invoke(app, ["export", "web", str(out), "--workspace", str(trained.root), "--phase", "fullbody",
                                 "--examples", "1"])
    assert result.exit_code == 0, result.output
    assert not (out / "models" / "multi.json").exists() and len(list((out / "examples" / "fullbody").iterdir())) == 3
    result = runner.invoke(app, ["export", "web", str(out), "--workspace", str(trained.root), "--title", "Characters by Ada <Test>"])
    assert result.exit_code == 0, result.output


@pytest.fixture
def served(site):
    out, _ = site
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield out, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _Server(http.server.ThreadingHTTPServer):
    """A plain static file server that doesn't print a traceback when the browser drops a connection."""

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def browser():
    if not shutil.os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        yield instance
        instance.close()


def _open(browser, url, viewport=None):
    """A page on the site with every request outside it blocked; returns (page, requests, blocked, errors)."""
    page = browser.new_page(viewport=viewport or {"width": 1280, "height": 900})
    requests, blocked, errors = [], [], []

    def route(route):
        if route.request.url.startswith(url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.evaluate("window.ocpipe.ready")
    return page, requests, blocked, errors


def _probes(trained, out) -> list[tuple[str, str]]:
    """(site-relative path, phase): every test-split frame, copied into the site, plus a
    blank canvas, a picture over 1024 px (shrunk first), a JPEG (decoded by the browser) and a
    real photo (matplotlib's sample Grace Hopper portrait), which the familiarity floor refuses."""
    probes = []
    folder = out / "probes"
    folder.mkdir(exist_ok=True)
    rows = [row for row in read_table(trained.manifest) if row["split"] == "test"]
    for index, row in enumerate(rows):
        name = f"probes/{index:03d}.png"
        shutil.copyfile(trained.absolute(row["path"]), out / name)
        probes.append((name, row["phase"]))
    first = next(row for row in rows if row["phase"] == "fullbody" and row["background"] == "transparent")
    with Image.open(trained.absolute(first["path"])) as frame:
        frame.convert("RGBA").resize((frame.width * 6, frame.height * 6), Image.Resampling.NEAREST).save(folder / "big.png")
        Image.new("RGBA", frame.size).save(folder / "blank.png")
    opaque = next(row for row in rows if row["phase"] == "fullbody" and row["background"] == "plain")
    with Image.open(trained.absolute(opaque["path"])) as frame:
        frame.convert("RGB").save(folder / "photo.jpg", quality=92)
    shutil.copyfile(GRACE_HOPPER, folder / "hopper.jpg")
    probes += [("probes/big.png", "fullbody"), ("probes/blank.png", "fullbody"), ("probes/photo.jpg", "fullbody"),
               ("probes/hopper.jpg", "fullbody"), ("probes/hopper.jpg", "multi")]
    return probes


def _png(data_url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB"))


@pytest.mark.slow
@pytest.mark.browser
def test_page_answers_like_predict_and_explain(trained, served, browser, tmp_path):
    from ocpipe.gradcam import gradcam_heatmaps
    from ocpipe.hashing import compose_over
    from ocpipe.predict import Predictor, summary
    from ocpipe.readers import read_picture

    out, url = served
    probes = _probes(trained, out)
    page, requests, blocked, errors = _open(browser, url)
    answers = [page.evaluate("([u, p]) => window.ocpipe.classify(u, p)", [name, phase]) for name, phase in probes]
    predictors = {phase: Predictor.load(trained, phase) for phase in ("fullbody", "multi")}
    worst, correlations = 0.0, []
    for phase, predictor in predictors.items():
        mine = [(name, answer) for (name, p), answer in zip(probes, answers) if p == phase]
        result = runner.invoke(app, ["predict", *[str(out / name) for name, _ in mine], "--phase", phase,
                                     "--workspace", str(trained.root), "--json"])
        assert result.exit_code == 0, result.output
        for (name, answer), line in zip(mine, result.output.strip().splitlines()):
            expected = json.loads(line)
            assert answer["phase"] == phase
            assert answer["top"] == expected["top"], name
            assert answer["recognised"] == expected["recognised"], name
            assert answer.get("labels") == expected.get("labels"), name
            assert answer.get("blank", False) == expected.get("blank", False), name
            assert answer.get("unfamiliar", False) == expected.get("unfamiliar", False), name
            if "familiarity" in expected:
                assert answer["familiarity"] == pytest.approx(expected["familiarity"], abs=1e-3), name
            difference = max(abs(answer["scores"][k] - v) for k, v in expected["scores"].items())
            worst = max(worst, difference)
            assert difference <= 0.01, (name, answer["scores"], expected["scores"])
            assert answer["summary"] == summary(expected), name  # "none of the trained characters (closest: ...)" alike
            # The heat map: explain's Grad-CAM of the top class on the same model input.
            prepared = predictor.prepare(read_picture(out / name, 1024).rgba)
            _, (heat,) = gradcam_heatmaps(predictor.model, prepared.inputs, [predictor.classes.index(expected["top"])])
            mine_heat = np.asarray(answer["heatmap"], np.float32)
            assert mine_heat.shape == heat.shape and 0.0 <= mine_heat.min() and mine_heat.max() <= 1.0
            if heat.std() > 1e-6:
                correlations.append(np.corrcoef(mine_heat.ravel(), heat.ravel())[0, 1])
                assert correlations[-1] >= 0.95, name
    print(f"page vs ocpipe predict on {len(probes)} images: largest score difference {worst:.2g}; "
          f"heat-map correlation with explain's: min {min(correlations):.5f}")
    assert any(not a["recognised"] for a in answers)  # the blank canvas at least: the "none of them" answer is exercised
    hopper = answers[probes.index(("probes/hopper.jpg", "fullbody"))]
    assert hopper["unfamiliar"] is True and hopper["recognised"] is False  # the familiarity floor, in the browser
    photo_scene = answers[probes.index(("probes/hopper.jpg", "multi"))]
    assert photo_scene["unfamiliar"] is True and photo_scene["labels"] == [] and not photo_scene["recognised"]  # ... and scenes
    # The overlay the page draws against `ocpipe explain`'s PNG, for a character and each character of a scene.
    scene = next(i for i, p in enumerate(probes) if p[1] == "multi")
    drawings = [(probes[0], answers[0]["top"])] + [(probes[scene], name) for name in answers[scene]["labels"]]
    for (name, phase), shown in drawings:
        drawn = _png(page.evaluate("([u, p, c]) => window.ocpipe.overlay(u, p, c)", [name, phase, shown]))
        written = tmp_path / "explained.png"
        result = runner.invoke(app, ["explain", str(out / name), "--phase", phase, "--class", shown, "--out", str(written),
                                     "--workspace", str(trained.root)])
        assert result.exit_code == 0, result.output
        explained = np.asarray(Image.open(written).convert("RGB")).astype(np.float32)
        base = compose_over(read_picture(out / name, 1024).rgba).astype(np.float32)
        assert drawn.shape == explained.shape
        heat_page, heat_explain = (drawn - base).ravel(), (explained - base).ravel()
        assert np.corrcoef(heat_page, heat_explain)[0, 1] >= 0.95, (name, shown)
    # auto picks the phase by the picture's shape, as the app does.
    assert page.evaluate("([u]) => window.ocpipe.classify(u, 'auto')", [probes[0][0]])["phase"] == "fullbody"
    assert not errors, errors
    assert not blocked, blocked
    assert requests and all(request.startswith(url) for request in requests)


@pytest.mark.slow
@pytest.mark.browser
def test_upload_shows_label_and_heat_map_on_a_phone(trained, served, browser, tmp_path):
    from ocpipe.predict import Predictor

    _, url = served
    row = next(row for row in read_table(trained.manifest) if row["split"] == "test" and row["phase"] == "fullbody")
    path = trained.absolute(row["path"])
    expected = Predictor.load(trained, "fullbody").predict_path(path)
    page, _, blocked, errors = _open(browser, url, viewport={"width": 390, "height": 844})
    page.locator("#file").set_input_files(str(path))
    page.locator("#summary:not(:empty)").wait_for(timeout=60_000)  # a CSS wait: the page's CSP forbids eval
    summary = page.locator("#summary").inner_text()
    bars = page.locator("#bars").inner_text()
    assert expected["top"] in summary and all(name in bars for name in CHARACTERS), (summary, bars)
    # The canvas shows the picture with the heat map: jet colours where the model looked.
    shown = _png(page.evaluate("document.querySelector('#overlay').toDataURL('image/png')"))
    assert shown.shape[:2] == (int(row["height"]), int(row["width"]))
    grey = np.abs(shown.astype(int) - 128).sum(axis=2) < 6
    assert (~grey).mean() > 0.2
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    screenshot = tmp_path / "export.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    assert not errors and not blocked
