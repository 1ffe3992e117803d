"""CLI: ``peoplelens enroll``, ``peoplelens people ...`` and ``peoplelens register-app``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from peoplelens.registration_app.errors import ExportError

store_option = click.option("--store", "store_path", type=click.Path(dir_okay=True), default=None,
                            help="People store file (default $PEOPLELENS_STORE or the per-user data dir).")


def _open(store_path: str | None):
    from peoplelens.registration_app.store import PeopleStore

    return PeopleStore.open(store_path)


def _passphrase(env_var: str | None, confirm: bool) -> str:
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            raise ExportError(f"environment variable {env_var} is not set or empty")
        return value
    return click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)


@click.command()
@click.argument("name")
@click.argument("photos", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@store_option
@click.option("--name-clip", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A recorded WAV of the name, used instead of espeak-ng.")
@click.option("--no-speech", is_flag=True, help="Do not render the name with espeak-ng.")
def enroll(name: str, photos: tuple[str, ...], store_path: str | None, name_clip: str | None, no_speech: bool) -> None:
    """Enrol NAME from PHOTO files (only protected face vectors are stored, never the photos)."""
    from peoplelens.registration_app.enroll import FaceAnalyzer, enroll_photos, load_options

    options = load_options()
    store = _open(store_path)
    report = enroll_photos(store, name, list(photos), FaceAnalyzer.create(options), options, name_clip=name_clip,
                           speak=not no_speech)
    for index, reasons in report.rejected:
        click.echo(f"  rejected {photos[index]}: {'; '.join(reasons)}")
    click.echo(f"  pose views done: {', '.join(report.pose_bins_done) or 'none'}; "
               f"missing: {', '.join(report.pose_bins_missing) or 'none'}")
    if not report.enrolled:
        raise click.ClickException(report.message)
    click.echo(f"{report.message} (name audio: {report.name_audio})")


@click.group()
def people() -> None:
    """List, rename, forget, export and import enrolled people."""


@people.command("list")
@store_option
def list_people(store_path: str | None) -> None:
    """Show everyone enrolled."""
    import datetime

    records = _open(store_path).people()
    if not records:
        click.echo("nobody enrolled")
    for p in records:
        when = datetime.datetime.fromtimestamp(p.created).strftime("%Y-%m-%d %H:%M")
        audio = "yes" if p.has_name_audio else "no"
        click.echo(f"{p.name}\t{p.n_vectors} vector(s)\tenrolled {when}\tname audio: {audio}")


@people.command()
@click.argument("old")
@click.argument("new")
@store_option
def rename(old: str, new: str, store_path: str | None) -> None:
    """Rename person OLD to NEW."""
    record = _open(store_path).rename(old, new)
    click.echo(f"renamed to {record.name}")


@people.command()
@click.argument("name")
@store_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def forget(name: str, store_path: str | None, yes: bool) -> None:
    """Remove NAME and every trace of them from the store."""
    if not yes:
        click.confirm(f"Forget {name} for good?", abort=True)
    _open(store_path).forget(name)
    click.echo(f"forgot {name}")


@people.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@store_option
@click.option("--passphrase-env", default=None, help="Read the passphrase from this environment variable.")
def export_cmd(file: str, store_path: str | None, passphrase_env: str | None) -> None:
    """Write everyone to FILE, encrypted under a passphrase (to move people from phone to device)."""
    n = _open(store_path).export_encrypted(file, _passphrase(passphrase_env, confirm=True))
    click.echo(f"exported {n} person(s) to {file}")


@people.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@store_option
@click.option("--passphrase-env", default=None, help="Read the passphrase from this environment variable.")
def import_cmd(file: str, store_path: str | None, passphrase_env: str | None) -> None:
    """Add everyone from an export FILE to this installation's store."""
    records = _open(store_path).import_encrypted(file, _passphrase(passphrase_env, confirm=False))
    click.echo(f"imported {len(records)} person(s): {', '.join(r.name for r in records)}")


@people.command("accept-copy")
@store_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def accept_copy(store_path: str | None, yes: bool) -> None:
    """Accept the store file as it is after restoring an older copy ON PURPOSE (people forgotten since come back)."""
    from peoplelens.registration_app.store import PeopleStore

    if not yes:
        click.confirm("Accept this copy of the store as the newest? People forgotten after it was made come back",
                      abort=True)
    generation = PeopleStore.accept_copy(store_path)
    click.echo(f"the store's generation {generation} is now the newest")


@click.command("register-app")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface, for a phone on the same network).")
@click.option("--port", default=8765, show_default=True, type=int)
@store_option
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TLS certificate: phone browsers only allow the camera on https:// (or localhost).")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), default=None, help="TLS private key.")
@click.option("--allow-host", "allow_hosts", multiple=True,
              help="Another host name the phone uses to reach this machine (e.g. a DNS name); repeatable.")
@click.option("--qr/--no-qr", default=True, show_default=True, help="Print the address as a QR code too.")
def register_app(host: str, port: int, store_path: str | None, certfile: str | None, keyfile: str | None,
                 allow_hosts: tuple[str, ...], qr: bool) -> None:
    """Serve the phone registration page (a new pairing token at every start; open the printed address)."""
    from peoplelens.core.extras import require

    for module in ("fastapi", "uvicorn", "segno"):
        require(module, extra="web", feature="the registration page (register-app)")
    from peoplelens.registration_app.enroll import FaceAnalyzer, load_options
    from peoplelens.registration_app.serve import allowed_hosts_for, is_loopback, serve
    from peoplelens.registration_app.web import create_app, new_token

    options = load_options()
    store = _open(store_path)
    token = new_token()
    hosts = allowed_hosts_for(host, allow_hosts)
    app = create_app(store, host=host, token=token, analyzer=FaceAnalyzer.create(options), options=options,
                     allowed_hosts=hosts)
    scheme = "https" if certfile else "http"
    shown = "localhost" if is_loopback(host) else next((h for h in hosts[3:] if h[0].isdigit() or h[0] == "["),
                                                       host)
    url = f"{scheme}://{shown}:{port}/?token={token}"
    click.echo(f"PeopleLens registration app for store {Path(store.path)}")
    click.echo(f"open on the phone (this address carries this launch's key; share it with nobody): {url}")
    click.echo(f"answers to host names: {', '.join(hosts)}")
    if qr:
        import segno

        segno.make(url, error="m").terminal(compact=True)
    serve(app, host, port, certfile, keyfile)
