import pytest

from membench.registry import Registry, UnknownNameError


def test_register_and_get():
    registry = Registry("thing")

    @registry.register("alpha")
    def alpha():
        return 1

    assert registry.get("alpha") is alpha
    assert registry.names() == ["alpha"]
    assert "alpha" in registry


def test_duplicate_name_is_an_error():
    registry = Registry("thing")
    registry.add("alpha", 1)
    with pytest.raises(ValueError, match="duplicate thing name 'alpha'"):
        registry.add("alpha", 2)


def test_unknown_name_suggests_the_closest():
    registry = Registry("task")
    for name in ("copy", "sort", "assoc_recall"):
        registry.add(name, name)
    with pytest.raises(UnknownNameError) as info:
        registry.get("cpy")
    assert (
        str(info.value)
        == "unknown task 'cpy': did you mean 'copy'? known: assoc_recall, copy, sort"
    )


def test_unknown_name_without_close_match_lists_known():
    registry = Registry("task")
    registry.add("copy", 1)
    with pytest.raises(UnknownNameError) as info:
        registry.get("zzzzzz")
    assert "did you mean" not in str(info.value)
    assert "known: copy" in str(info.value)
