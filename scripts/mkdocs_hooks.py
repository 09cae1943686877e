"""mkdocs hook: the CLI reference's flag tables, generated at build time from the command line's own parsers
(``pipeline.cli.main.build_parser``, which the schema's options build), so the page cannot drift from the code.
``docs/cli.md`` holds the marker ``<!-- every flag -->`` where the tables go."""

from __future__ import annotations

import argparse

MARKER = "<!-- every flag -->"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(action: argparse.Action) -> str:
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._CountAction)):
        return ""
    if action.default in (None, argparse.SUPPRESS) or action.required:
        return "required" if action.required else ""
    value = action.default
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return f"`{value}`"


def flag_tables() -> str:
    """One section per command: every option with its choices, default and help text."""
    from pipeline.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = []
    for name, command in sub.choices.items():
        formatter = command._get_formatter()
        out += [
            f"### `{name}`",
            "",
            _cell(command.description or ""),
            "",
            "| flag | default | what it does |",
            "|---|---|---|",
        ]
        for action in command._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            flags = ", ".join(action.option_strings) or action.dest.upper()
            if action.choices and not isinstance(action.choices, dict):
                flags += " " + "\\|".join(str(c) for c in action.choices)
            elif action.metavar and action.option_strings:
                flags += f" {action.metavar}"
            text = formatter._expand_help(action) if action.help else ""
            out.append(f"| `{_cell(flags)}` | {_default(action)} | {_cell(text)} |")
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown: str, page, **kwargs) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, flag_tables())
