"""The ``peoplelens`` command. Sub-commands live next to the code they drive and are imported lazily,
so ``peoplelens --help`` is fast and one area's import problem never hides the others."""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from peoplelens.core.errors import PeopleLensError

# name -> "module:attribute" of a click command or group
SUBCOMMANDS: dict[str, str] = {
    "assets": "peoplelens.models.cli:assets",
    "doctor": "peoplelens.models.cli:doctor",
    "audio": "peoplelens.audio.cli:audio",
    "enroll": "peoplelens.registration_app.cli:enroll",
    "people": "peoplelens.registration_app.cli:people",
    "register-app": "peoplelens.registration_app.cli:register_app",
    "run": "peoplelens.lens.runtime.cli:run",
    "device": "peoplelens.lens.runtime.cli:device",
    "phone": "peoplelens.lens.runtime.cli:phone",
    "replay": "peoplelens.sim_harness.cli:replay",
    "bench": "peoplelens.bench.cli:bench",
    "demo": "peoplelens.sim_harness.demo:demo",
    "experiences": "peoplelens.lens.experiences.cli:experiences",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return None  # that area is not built yet
            raise
        return getattr(module, attr, None)


@click.group(cls=LazyGroup)
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML file overriding thresholds (same as $PEOPLELENS_CONFIG).")
def cli(verbose: int, config_file: str | None) -> None:
    """PeopleLens: a spatial-audio People Map for people who are blind."""
    if config_file:
        os.environ["PEOPLELENS_CONFIG"] = os.path.abspath(config_file)
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


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
