"""Placeholder: the owner of this file registers its sub-commands here."""


def register(subparsers) -> None:
    return None
