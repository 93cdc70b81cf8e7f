"""nnkrr.config: one typed description of every entry point's config."""

import dataclasses

import pytest

from nnkrr import config
from nnkrr.scale import Scale


@pytest.mark.parametrize(
    "entry,schema", [("sweep", config.Sweep), ("spectral", config.Spectral), ("krr", config.KRR)]
)
def test_the_yaml_entry_points_compose_the_schemas_defaults(entry, schema):
    """configs/<entry>.yaml adds Hydra's settings only: its composed default equals the
    schema's own defaults, built in code."""
    assert config.compose([], entry) == config.plain(schema())
    assert config.check(config.compose([], entry), entry) == config.plain(schema())


@pytest.mark.parametrize("option", sorted(config.DATA))
def test_every_data_option_composes_to_its_schema(option):
    composed = config.compose(
        [f"data={option}"] + (["data.path=x.npz"] if option == "file" else [])
    )
    extra = {"path": "x.npz"} if option == "file" else {}
    expected = config.plain(dataclasses.replace(config.DATA[option], seed=0, **extra))
    assert composed["data"] == expected
    config.check(composed)


def test_every_field_has_a_doc_and_a_checkable_type():
    schemas = [
        config.Sweep,
        config.Spectral,
        config.KRR,
        config.Sampler,
        config.Regime,
        config.Train,
        config.TwoLayer,
        config.MLP,
        config.Synthetic,
        config.Cone,
        config.Anisotropic,
        config.Manifold,
        config.Real,
        config.MNIST1D,
        config.File,
    ]
    for schema in schemas:
        for field in dataclasses.fields(schema):
            if field.name != "_target_":
                assert field.metadata.get("doc"), f"{schema.__name__}.{field.name} has no doc"


def test_reference_lists_every_key_once_per_schema():
    text = config.reference()
    for key in ("`width`", "`step_factor`", "`pool_size`", "`spread`", "`columns`", "`x64`"):
        assert key in text
    assert text.count("## `model=two_layer`") == 1
    # the sweep's defaults, as the schema states them
    assert "| `seeds` | int | `3` |" in text and "| `ridge` | float | `0.1` |" in text


def KEYS(schema) -> str:
    """The keys a refusal lists for ``schema``'s node: its fields, sorted (so that a new
    optional key changes no test)."""
    import dataclasses

    return ", ".join(sorted(f.name for f in dataclasses.fields(schema) if f.name != "defaults"))


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["seeds=2.5"], "seeds: Value '2.5' of type 'float' could not be converted to Integer"),
        (["+train.lr=1"], f"train.lr: unknown key (train has {KEYS(config.Train)})"),
        (["+seedz=1"], "seedz: unknown key"),
        (
            ["sampler=leverage", "sampler.method=iid"],
            "sampler.method must be one of rejection, sir",
        ),
        (["train.optimizer=nope"], "train.optimizer must be the name of an optax optimizer"),
        (["data=cone", "data.spread=0"], "data.spread must be a finite number > 0, got 0.0"),
    ],
)
def test_compose_and_check_name_the_key(overrides, message):
    with pytest.raises(config.ConfigError) as err:
        config.check(config.compose(overrides))
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["widths=[]"], "widths must be a non-empty list of integers >= 1"),
        (["samplers=[uniform]"], "samplers must be a non-empty list of gaussian, leverage"),
        (["kernel=rbf"], "kernel must be one of relu_ntk, arccos1, rff_gaussian"),
    ],
)
def test_spectral_checks(overrides, message):
    with pytest.raises(config.ConfigError, match=message.replace("(", r"\(")):
        config.check(config.compose(overrides, "spectral"), "spectral")


@pytest.mark.parametrize("n,x64,refused", [(4096, True, False), (8192, True, True),
                                           (8192, False, False), (12288, False, True)])  # fmt: skip
def test_a_spectral_n_whose_matrices_do_not_fit_is_refused(monkeypatch, n, x64, refused):
    """K and its whitener, 2 n^2 floats, against half of a device of 1 GiB: 4096^2 x 16 B =
    0.25 GiB fits, 8192^2 x 16 B = 1 GiB does not (in float32 it is 0.5 GiB and fits)."""
    from nnkrr import krr

    monkeypatch.setattr(krr, "device_memory", lambda: 2**30)
    cfg = config.compose([f"data.n_train={n}", f"x64={str(x64).lower()}"], "spectral")
    if not refused:
        assert config.check(cfg, "spectral")["data"]["n_train"] == n
        return
    with pytest.raises(config.ConfigError) as err:
        config.check(cfg, "spectral")
    gib = 2 * n * n * (8 if x64 else 4) / 2**30
    assert str(err.value).startswith(
        f"data.n_train={n}: the spectral error needs K and its whitener L^-1 ({gib:.1f} GiB)"
    )
    assert "\n" not in str(err.value)


def test_a_python_config_is_checked_like_a_composed_one():
    with pytest.raises(config.ConfigError, match="model.width must be an integer >= 1, got 0"):
        config.check(config.Sweep(model=config.TwoLayer(width=0)))
    mlp = config.check(config.Sweep(model=config.MLP(width=8)))
    assert mlp["model"] == {
        "kind": "mlp",
        "width": 8,
        "depth": 2,
        "W_std": 1.0,
        "train_readout": True,
    }


@pytest.mark.parametrize(
    "overrides,kappa,ridge,lam",
    [
        ([], 1.0, 0.1, 0.1),
        (["regime=paper"], 0.1, 0.1, 0.001),
        (["regime=paper", "ridge=10"], 0.1, 10.0, 0.1),
    ],
)
def test_the_scale_is_derived_from_kappa_and_ridge(overrides, kappa, ridge, lam):
    s = Scale.of(config.check(config.compose(overrides)))
    assert (s.kappa, s.ridge, s.lam) == (kappa, ridge, lam)


@pytest.mark.parametrize("entry", ["sweep", "krr"])
def test_lam_is_derived_not_set(entry):
    """``lam=0.1`` once composed ``ridge = 0.1`` while the rows said ``ridge = 10`` (paper
    regime): now the one line says what to set."""
    with pytest.raises(config.ConfigError) as err:
        config.compose(["lam=0.1"], entry)
    assert str(err.value) == (
        "lam: derived: lam = kappa^2 * ridge, the output scale's square times the ridge on K "
        "(nnkrr.scale.Scale); set ridge"
    )


@pytest.mark.parametrize(
    ("entry", "override", "message"),
    [
        ("spectral", "lam_per_point=0.001", "lam_per_point: renamed ridge_per_point"),
        ("spectral", "lam=0.1", "lam: renamed ridge"),
        ("sweep", "model.kernel=fused", "model.kernel: renamed model.backprop"),
    ],
)
def test_a_renamed_key_is_refused_naming_its_new_name(entry, override, message):
    with pytest.raises(config.ConfigError) as err:
        config.compose([override], entry)
    assert str(err.value) == message


def test_the_per_sample_ridge_family_reproduces_an_explicit_ridge():
    """ridge = n * ridge0 through the resolver: the same config (and so the same f* and rows,
    tests/test_experiment.py) as the explicit ridge, at every n."""
    for n, ridge0 in [(100, 0.001), (128, 0.1 / 128), (2048, 0.1 / 128)]:
        family = config.compose(
            [f"data.n_train={n}", f"ridge='${{nnkrr.per_point:${{data.n_train}},{ridge0}}}'"]
        )
        explicit = config.compose([f"data.n_train={n}", f"ridge={config.per_point(n, ridge0)}"])
        assert family == explicit
    assert config.per_point(2048, 0.1 / 128) == 1.6 and config.per_point(128, 0.1 / 128) == 0.1
    spectral = config.compose(
        ["data.n_train=512", "ridge='${nnkrr.per_point:${data.n_train},0.002}'"], "spectral"
    )
    assert spectral["ridge"] == 1.024
