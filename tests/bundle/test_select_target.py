import pytest

from healthmon.bundle.diag import BundleError
from healthmon.bundle.mutators.select_target import select_target
from healthmon.bundle.yamlparse import parse_text


def cfg(text):
    return parse_text(text, "databricks.yml")


def test_explicit_default_and_single_and_implicit():
    two = cfg("targets:\n  dev:\n    default: true\n  prod: {}\n")
    assert select_target(two, None) == "dev"
    assert select_target(two, "prod") == "prod"
    assert select_target(cfg("targets:\n  only: {}\n"), None) == "only"
    assert select_target(cfg("bundle: {name: x}\n"), None) == "default"


def test_unknown_target_lists_the_targets():
    with pytest.raises(BundleError) as e:
        select_target(cfg("targets:\n  dev: {}\n  prod: {}\n"), "prd")
    assert str(e.value) == "Error: prd: no such target. Available targets: dev, prod"


def test_ambiguous_defaults_are_errors():
    with pytest.raises(BundleError, match="please specify target"):
        select_target(cfg("targets:\n  a: {}\n  b: {}\n"), None)
    with pytest.raises(BundleError, match="multiple targets are marked as default"):
        select_target(cfg("targets:\n  a: {default: true}\n  b: {default: true}\n"), None)
