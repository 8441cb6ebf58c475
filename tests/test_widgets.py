"""The interactive demos of dlcore.widgets, driven without a browser (controls set from code)."""

import matplotlib

matplotlib.use("Agg")

import pytest

from dlcore import widgets
from dlcore.widgets import Demo, DemoInputError, parse_layers, slider, toy_training_demo

ipywidgets = pytest.importorskip("ipywidgets")


@pytest.fixture
def widgets_on(monkeypatch):
    monkeypatch.delenv("DLCORE_WIDGETS", raising=False)


def test_parse_layers_reads_lists():
    assert parse_layers("16, 16, 8") == (16, 16, 8)
    assert parse_layers("[4,3]") == (4, 3)
    assert parse_layers(" 5 ") == (5,)
    assert parse_layers("") == ()


@pytest.mark.parametrize("text, words", [("16, x", "cannot read 'x'"), ("4, 0", "1 to"),
                                         ("2.5", "cannot read '2.5'"), ("1 " * 9, "at most")])
def test_parse_layers_explains_bad_input(text, words):
    with pytest.raises(DemoInputError, match="hidden layers") as err:
        parse_layers(text)
    assert words in str(err.value)


def test_toy_demo_default_run_and_retrain(widgets_on, capsys):
    demo = toy_training_demo()
    assert demo.enabled
    names = set(demo.controls)
    assert names == {"dataset", "hidden", "activation", "optimizer", "lr", "epochs"}
    assert isinstance(demo.controls["optimizer"], str)  # one optimiser: no dropdown
    demo.show()
    values, summary, seconds = demo.last
    assert summary.startswith("moons, [2, 5, 1] tanh, lr=1.0, 300 epochs: loss ")
    assert "train acc" in summary and seconds > 0
    assert f"default run: {summary}" in capsys.readouterr().out
    assert len(demo.output.outputs) == 1  # the figure (a PNG under a kernel)
    assert summary in demo.status.value
    assert " s drawing" not in demo.status.value  # the stored default run shows no timings

    demo.controls["dataset"].value = "circles"
    demo.controls["hidden"].value = 3
    retrained = demo.update()
    assert " s drawing" in demo.status.value  # a run the reader starts says how long it took
    assert retrained != summary
    assert retrained.startswith("circles, [2, 3, 1] tanh")
    assert demo.last[1] == retrained


def test_toy_demo_layer_text_and_optimisers(widgets_on):
    demo = toy_training_demo(hidden=(4, 4), editable_layers=True, optimizers=("sgd", "momentum", "adam"),
                             epochs=100, lr=0.05, optimizer="adam")
    assert isinstance(demo.controls["hidden"], ipywidgets.Text)
    assert demo.controls["hidden"].value == "4, 4"
    assert list(demo.controls["optimizer"].options) == ["sgd", "momentum", "adam"]
    first = demo.update()
    assert first.startswith("moons, [2, 4, 4, 1] tanh, adam lr=0.05, 100 epochs")

    demo.controls["hidden"].value = "16, 16, x"
    message = demo.update()
    assert message.startswith("error: hidden layers: cannot read 'x'")
    assert "cannot read" in demo.status.value
    assert len(demo.output.outputs) == 1  # the previous figure stays

    demo.controls["hidden"].value = "8, 8, 4"
    demo.controls["optimizer"].value = "momentum"
    assert demo.update().startswith("moons, [2, 8, 8, 4, 1] tanh, momentum lr=0.05")


def test_toy_demo_without_widgets(monkeypatch, capsys):
    monkeypatch.setenv("DLCORE_WIDGETS", "off")
    assert not widgets.widgets_enabled()
    demo = toy_training_demo(dataset="xor", activation="relu", lr=0.5, epochs=200, editable_layers=True)
    assert not demo.enabled and not hasattr(demo, "view")
    demo.show()
    summary = demo.last[1]
    assert summary.startswith("xor, [2, 5, 1] relu, lr=0.5, 200 epochs")
    assert capsys.readouterr().out.strip() == f"default run: {summary}"
    demo.controls["hidden"] = "6, 3"
    assert demo.update().startswith("xor, [2, 6, 3, 1] relu")
    demo.controls["hidden"] = "six"
    assert "cannot read 'six'" in demo.update()


def test_toy_demo_rejects_unknown_choices():
    with pytest.raises(ValueError, match="dataset"):
        toy_training_demo(dataset="linear", datasets=("moons",))
    with pytest.raises(ValueError, match="optimizer"):
        toy_training_demo(optimizer="adam")


def test_train_toy_solves_xor():
    model, history, X, y, (loss, acc) = widgets.train_toy("xor", (4,), "tanh", lr=1.0, epochs=300)
    assert len(history) == 300 and acc >= 0.95 and loss < history.loss[0]


def test_generic_demo_still_works(widgets_on):
    import matplotlib.pyplot as plt

    def run(w=2.0):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, w])
        return fig, f"w = {w:.1f}"

    demo = Demo(run, {"w": slider(2.0, 0.1, 5.0, 0.1, description="w")}, title="t")
    assert demo.update() == "w = 2.0"
    demo.controls["w"].value = 3.0
    assert demo.update() == "w = 3.0"
