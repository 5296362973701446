"""Class-names files shared by the classification and segmentation datasets: one class per line, in index order.

Plain names (`cat`), ImageNet's synset words (`n01440764 tench, Tinca tinca`, the whole line is the name) and
`index name` lines numbered 0..n-1 in order all read the same way; blank lines and `#` comments are skipped.
"""

from __future__ import annotations

from pathlib import Path

from quantflow.core.errors import UserInputError, shown


def read_class_names(path: Path, where: str) -> list[str]:
    """The names in index order; an `index name` file must number its lines 0..n-1."""
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserInputError(f"{where}: {shown(path.name)} is not a text file (not UTF-8)") from None
    names = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not names:
        raise UserInputError(f"{where}: {shown(path.name)} names no classes (expected one class name per line)")
    heads = [name.split(maxsplit=1) for name in names]
    if all(len(head) == 2 and head[0].isdigit() for head in heads):
        if [int(head[0]) for head in heads] != list(range(len(heads))):
            raise UserInputError(f"{where}: {shown(path.name)} numbers its classes out of order "
                                 f"(expected 0..{len(heads) - 1}, one per line)")
        names = [head[1] for head in heads]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise UserInputError(f"{where}: {shown(path.name)} names class {shown(twice)!r} twice")
    return names


def names_for_model(names: list[str] | None, labels: range, source: str) -> list[str]:
    """The names to report the model's `labels` by: the dataset's own, which must be as many as the model
    scores (a shifted or missing class scores nonsense), or the class indices when the dataset names none."""
    if names is None:
        return [str(i) for i in labels]
    if len(labels) != len(names):
        raise UserInputError(f"decoder: the model scores {len(labels)} classes, but {source} names {len(names)}")
    return names
