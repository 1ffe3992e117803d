"""The ``peoplelens`` command.

Sub-commands live next to the code they drive and are imported only when one runs (or its ``--help`` is
asked for); ``peoplelens --help`` and shell completion read the static table below instead, so they import
no sub-command at all. Each sub-command module imports its heavy libraries (numpy, OpenCV, ONNX Runtime,
ZeroMQ, FastAPI, ...) inside the command function, so ``peoplelens SUBCOMMAND --help`` stays fast too.
``tests/test_cli_startup.py`` checks both, and that the table's help matches each command's own.

Shell completion (click's): ``eval "$(_PEOPLELENS_COMPLETE=bash_source peoplelens)"`` in ``~/.bashrc``
(``zsh_source`` in ``~/.zshrc``, ``fish_source`` for fish).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import click

from peoplelens.core.errors import PeopleLensError

# name -> ("module:attribute" of a click command or group, its one-line help as shown by `peoplelens --help`)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "assets": ("peoplelens.models.cli:assets",
               "Model and sample-data assets: list, fetch (download + verify), verify, import."),
    "audio": ("peoplelens.audio.cli:audio", "Binaural spatial audio: render and play cues, list output devices."),
    "bench": ("peoplelens.bench.cli:bench",
              "Time every stage, end-to-end latency, sustained fps, peak memory and identity precision/recall of "
              "our pipeline against insightface FaceAnalysis on every frame, on the same videos in the same run."),
    "config": ("peoplelens.config_cli:config",
               "Show the effective configuration, or check a configuration file, section by section."),
    "demo": ("peoplelens.sim_harness.demo:demo",
             "Name people on the sample videos: who was announced, where and when."),
    "device": ("peoplelens.lens.runtime.cli:device",
               "Run capture, audio output and the seen signal on the device, with perception on the phone."),
    "doctor": ("peoplelens.models.cli:doctor",
               "Versions, extras, the model set and its licences, ONNX Runtime providers (and whether CUDA really "
               "comes up), and which assets are usable."),
    "enroll": ("peoplelens.registration_app.cli:enroll",
               "Enrol NAME from PHOTO files (only protected face vectors are stored, never the photos)."),
    "experiences": ("peoplelens.lens.experiences.cli:experiences",
                    "The sound scheme (bump, name, click, woodblock guidance, gaze, follow, orientation)."),
    "people": ("peoplelens.registration_app.cli:people", "List, rename, forget, export and import enrolled people."),
    "phone": ("peoplelens.lens.runtime.cli:phone",
              "Run perception + world + experiences, serving a device over ZeroMQ."),
    "register-app": ("peoplelens.registration_app.cli:register_app",
                     "Serve the phone registration page (a new pairing token at every start; open the printed "
                     "address)."),
    "replay": ("peoplelens.sim_harness.cli:replay",
               "Replay VIDEO (a photo: held still; or every video in a FOLDER) through the live processor; write "
               "events, audio, overlay, report."),
    "run": ("peoplelens.lens.runtime.cli:run",
            "Run every stage in this process (capture, perception, experiences, audio output, seen signal)."),
}


def _shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to fit ``limit`` characters, with "..." when cut (as click does)."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 1)].rsplit(" ", 1)[0].rstrip(",;:") + "..."


def load_subcommand(name: str) -> click.Command:
    """Import and return the click command registered under ``name``."""
    module_name, attr = SUBCOMMANDS[name][0].split(":")
    return getattr(importlib.import_module(module_name), attr)


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported only when one of them is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        return load_subcommand(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands section of ``--help`` from the static table (imports nothing)."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        with formatter.section("Commands"):
            formatter.write_dl([(name, _shorten(SUBCOMMANDS[name][1], limit)) for name in names])

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        """Complete sub-command names from the static table (imports nothing)."""
        from click.shell_completion import CompletionItem

        items = [CompletionItem(name, help=SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)
                 if name.startswith(incomplete)]
        if incomplete.startswith("-"):
            return [*items, *click.Command.shell_complete(self, ctx, incomplete)]
        return items


@click.group(cls=LazyGroup)
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML file overriding settings (same as $PEOPLELENS_CONFIG); see `peoplelens config`.")
def cli(verbose: int, config_file: str | None) -> None:
    """PeopleLens: a spatial-audio People Map for people who are blind.

    Shell completion: eval "$(_PEOPLELENS_COMPLETE=bash_source peoplelens)" (zsh_source, fish_source).
    """
    ctx = click.get_current_context()
    if config_file:
        previous = os.environ.get("PEOPLELENS_CONFIG")
        os.environ["PEOPLELENS_CONFIG"] = os.path.abspath(config_file)
        ctx.call_on_close(lambda: _restore_env("PEOPLELENS_CONFIG", previous))  # for in-process callers (tests)
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    wants_help = any(arg in ("--help", "-h") for arg in sys.argv[1:])
    if os.environ.get("PEOPLELENS_CONFIG") and ctx.invoked_subcommand not in (None, "config") and not wants_help:
        from peoplelens.config_cli import check_file

        check_file()  # every section of the file, before any work: one clear error, not a failure halfway


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def main() -> None:
    """Console entry point: runs the CLI and turns project errors into a clear message and exit code 2."""
    try:
        cli(standalone_mode=False)
    except PeopleLensError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
