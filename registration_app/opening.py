"""What a people store's files mean when it is opened: create it, use it, or refuse (never lose people).

Called with the store's lock held (see :func:`~peoplelens.registration_app.sidecar.store_lock`), so two
processes opening one store at once decide one after the other. The states and what is done:

=====================  ==========================  ============================  =====================================
key file               people.db                   generation record             decision
=====================  ==========================  ============================  =====================================
missing                missing or empty            missing, 0 or 1               create (record 0 first, then key)
missing                has data                    any                           refuse: the key is gone
missing                missing or empty            2 or more                     refuse: store and key both gone
present                has data                    any                           use (the generation is checked later)
present, damaged       missing or empty            missing, 0 or 1               replace the key (never used), create
present                missing or empty            0 or 1                        finish an unfinished creation
present                missing                     missing                       create with this key (provisioned)
present                empty                       missing                       refuse: the store file was emptied
present                missing or empty            2 or more                     refuse: the store file was lost
=====================  ==========================  ============================  =====================================
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from peoplelens.registration_app.errors import DamagedSecretError, StoreError, StoreLostError, WrongSecretError
from peoplelens.registration_app.secret import DerivedKeys, read_secret, write_secret
from peoplelens.registration_app.sidecar import CREATED_GENERATION, GenerationFile

log = logging.getLogger(__name__)


def default_store_path() -> Path:
    """``$PEOPLELENS_STORE``, else ``people.db`` in the per-user data dir (e.g. ``~/.local/share/peoplelens``)."""
    env = os.environ.get("PEOPLELENS_STORE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("peoplelens")) / "people.db"


def secret_path_for(store_path: Path) -> Path:
    """The installation secret sits next to its store: ``people.db`` -> ``people.db.key``."""
    return store_path.with_name(store_path.name + ".key")


def has_data(path: Path) -> bool:
    """Whether the store file exists and is not empty."""
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise StoreError(f"cannot look at the people store {path}: {exc.strerror or exc}") from None


def resolve_keys(path: Path, secret_file: Path, create: bool) -> tuple[DerivedKeys, bool]:
    """The store's keys, and whether the store file must be (re)created; refuses every unsafe state."""
    data = has_data(path)
    generation = GenerationFile(path).read()
    if not secret_file.exists():
        if data:
            raise WrongSecretError(f"the store exists but its secret file {secret_file} is missing; it cannot "
                                   "be read")
        if generation is not None and generation > CREATED_GENERATION:
            raise StoreLostError(f"{path} and its key {secret_file} are both gone, but its generation record "
                                 f"says people were enrolled; restore them from a backup (or, to start anew "
                                 f"on purpose, delete {GenerationFile(path).path})")
        if not create:
            raise StoreError(f"there is no people store at {path}; enrol someone first")
        GenerationFile(path).write(0)  # first, so a crash below is recognised as an unfinished creation
        return DerivedKeys.from_secret(write_secret(secret_file)), True
    try:
        secret = read_secret(secret_file)
    except DamagedSecretError:
        if data or (generation is not None and generation > CREATED_GENERATION):
            raise
        # left empty or short by a crash while it was written (older versions): it never encrypted anything
        log.warning("replacing the damaged secret file %s of a store that was never written", secret_file)
        secret_file.unlink()
        return DerivedKeys.from_secret(write_secret(secret_file)), True
    if data:  # generation 0: a creation that never finished (the file holds no person); redo it
        return DerivedKeys.from_secret(secret), generation == 0
    if generation is None:
        if path.exists():
            raise StoreLostError(
                f"{path} is empty but its key {secret_file} exists: the store was truncated or replaced, and is "
                "not taken for a new empty one. Restore it from a backup; to start a new empty store on purpose, "
                f"delete {path} and move the key {secret_file} away")
        if not create:
            raise StoreError(f"there is no people store at {path}; enrol someone first")
        GenerationFile(path).write(0)  # a key provisioned before its store: create the store with it
        return DerivedKeys.from_secret(secret), True
    if generation > CREATED_GENERATION:
        raise StoreLostError(
            f"{path} is {'empty' if path.exists() else 'missing'} but its generation record says people were "
            f"enrolled (generation {generation}): everyone would be lost, so it is refused. Restore {path} "
            f"from a backup; to start anew on purpose, move {secret_file} and "
            f"{GenerationFile(path).path} away")
    return DerivedKeys.from_secret(secret), True  # an unfinished creation: nobody was ever stored
