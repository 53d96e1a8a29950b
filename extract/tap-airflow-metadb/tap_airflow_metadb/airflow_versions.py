"""Airflow metadata-database alembic revisions and the releases that introduced them.

Facts only: revision ids and Airflow version numbers, as declared in Apache
Airflow's own migration scripts (repository ``apache/airflow``):

* ``airflow/migrations/versions/*.py`` (2.x layout), read from the released
  apache-airflow 2.10.5 distribution and checked against 2.11.2 (2.11.x added no
  migrations; its newest migration is the 2.10.3 one);
* ``airflow-core/src/airflow/migrations/versions/*.py`` (3.x layout), read from
  the released apache-airflow-core 3.3.2 distribution (shipped there as
  ``airflow/migrations/versions``) and checked against 3.2.2;
* each script's ``revision``, ``down_revision`` and ``airflow_version``, walked
  from the head down the ``down_revision`` chain, and cross-checked with
  ``_REVISION_HEADS_MAP`` in ``airflow/utils/db.py`` and with the table in
  ``airflow-core/docs/migrations-ref.rst`` / ``docs/apache-airflow/migrations-ref.rst``;
* FAB auth-manager revisions from
  ``providers/fab/src/airflow/providers/fab/migrations/versions/*.py``
  (``fab_version``), read from apache-airflow-providers-fab 3.10.2.

Compiled 2026-11-21. Covers Airflow 2.0.0 through 3.3.2 (newest release at that
date). Unreleased revisions on the development branch (3.4.0 work) are not
included.

The core chain is linear from 2.0.0 to the 3.3.x head. Airflow 3.x squashed every
migration up to 2.6.2 into one script with a new id (``4bc4d934e2bc``), which
replaces 2.x's 2.6.2 head ``c804e5c76e3e`` as the parent of the 2.7.0 migrations.
Both ids are listed here.

Core revisions live in the ``alembic_version`` table; FAB provider revisions
live in ``alembic_version_fab`` and are numbered by FAB provider version, not
Airflow version.
"""

# Revision id -> Airflow version whose migrations introduced it. Ordered along
# the down_revision chain, oldest first.
REVISIONS: dict[str, str] = {
    # --- 2.0.0 ---
    "cf5dc11e79ad": "2.0.0",
    "bbf4a7ad0465": "2.0.0",
    "b25a55525161": "2.0.0",
    "3c20cacc0044": "2.0.0",
    "8f966b9c467a": "2.0.0",
    "8d48763f6d53": "2.0.0",
    "e38be357a868": "2.0.0",
    "b247b1e3d1ed": "2.0.0",
    "e1a11ece99cc": "2.0.0",
    "bef4f3d11e8b": "2.0.0",
    "98271e7606e2": "2.0.0",
    "52d53670a240": "2.0.0",
    "364159666cbd": "2.0.0",
    "45ba3f1493b9": "2.0.0",
    "849da589634d": "2.0.0",
    "2c6edca13270": "2.0.0",
    "61ec73d9401f": "2.0.0",
    "64a7d6477aae": "2.0.0",
    "e959f08ac86c": "2.0.0",
    # --- 2.0.1 ---
    "82b7c48c147f": "2.0.1",
    # --- 2.0.2 ---
    "449b4072c2da": "2.0.2",
    "8646922c8a04": "2.0.2",
    "2e42bb497a22": "2.0.2",
    # --- 2.1.0 ---
    "90d1635d7b86": "2.1.0",
    "e165e7455d70": "2.1.0",
    "a13f7613ad25": "2.1.0",
    # --- 2.1.3 ---
    "97cdd93827b8": "2.1.3",
    # --- 2.1.4 ---
    "092435bf5d12": "2.1.4",
    "ccde3e26fe78": "2.1.4",
    # --- 2.2.0 ---
    "83f031fd9f1c": "2.2.0",
    "e9304a3141f0": "2.2.0",
    "30867afad44a": "2.2.0",
    "54bebd308c5f": "2.2.0",
    "142555e44c17": "2.2.0",
    "7b2661a43ba3": "2.2.0",
    # --- 2.2.3 ---
    "be2bfac3da23": "2.2.3",
    # --- 2.2.4 ---
    "c381b21cb7e4": "2.2.4",
    "587bdf053233": "2.2.4",
    # --- 2.3.0 ---
    "5e3ec427fdd3": "2.3.0",
    "786e3737b18f": "2.3.0",
    "f9da662e7089": "2.3.0",
    "e655c0453f75": "2.3.0",
    "a3bcd0914482": "2.3.0",
    "c306b5b5ae4a": "2.3.0",
    "c97c2ab6aa23": "2.3.0",
    "4eaab2fe6582": "2.3.0",
    "48925b2719cb": "2.3.0",
    "909884dea523": "2.3.0",
    "75d5ed6c2b43": "2.3.0",
    "b1b348e02d07": "2.3.0",
    # --- 2.3.1 ---
    "1de7bc13c950": "2.3.1",
    # --- 2.3.2 ---
    "3c94c427fdf6": "2.3.2",
    # --- 2.3.3 ---
    "f5fcbda3e651": "2.3.3",
    # --- 2.4.0 ---
    "424117c37d18": "2.4.0",
    "44b7034f6bdc": "2.4.0",
    "0038cd0c28b4": "2.4.0",
    "f4ff391becb5": "2.4.0",
    "1486deb605b4": "2.4.0",
    "ecb43d2a1842": "2.4.0",
    # --- 2.4.2 ---
    "b0d31815b5a6": "2.4.2",
    # --- 2.4.3 ---
    "e07f49787c9d": "2.4.3",
    # --- 2.5.0 ---
    "ee8d93fcc81e": "2.5.0",
    "1986afd32c1b": "2.5.0",
    "290244fb8b83": "2.5.0",
    # --- 2.6.0 ---
    "6abdffdd4815": "2.6.0",
    "98ae134e6fff": "2.6.0",
    # --- 2.6.2 ---
    "c804e5c76e3e": "2.6.2",
    # Base of the Airflow 3.x migration tree: all migrations up to 2.6.2
    # squashed into one file. Schema-equivalent to c804e5c76e3e.
    "4bc4d934e2bc": "2.6.2",
    # --- 2.7.0 ---
    "937cbd173ca1": "2.7.0",
    "788397e78828": "2.7.0",
    "405de8318b3a": "2.7.0",
    # --- 2.8.0 ---
    "375a816bbbf4": "2.8.0",
    "f7bf2a57d0a6": "2.8.0",
    "bd5dfbe21f88": "2.8.0",
    "10b52ebd31f7": "2.8.0",
    # --- 2.8.1 ---
    "88344c1d9134": "2.8.1",
    # --- 2.9.0 ---
    "1fd565369930": "2.9.0",
    "d75389605139": "2.9.0",
    "ab34f260b71c": "2.9.0",
    "8e1c784a4fc7": "2.9.0",
    "b4078ac230a1": "2.9.0",
    "ee1467d4aa35": "2.9.0",
    "1949afb29106": "2.9.0",
    # --- 2.9.2 ---
    "bff083ad727d": "2.9.2",
    "686269002441": "2.9.2",
    # --- 2.10.0 ---
    "0fd0c178cbe8": "2.10.0",
    "677fdbb7fc54": "2.10.0",
    "c4602ba06b4b": "2.10.0",
    "d482b7261ff9": "2.10.0",
    "05e19f3176be": "2.10.0",
    "ec3471c1e067": "2.10.0",
    "41b3bc7c0272": "2.10.0",
    "8684e37832e6": "2.10.0",
    "22ed7efa9da2": "2.10.0",
    # --- 2.10.3 ---
    "5f2621c13b39": "2.10.3",
    # --- 3.0.0 ---
    "044f740568ec": "3.0.0",
    "d0f1c55954fa": "3.0.0",
    "0bfc26bc256e": "3.0.0",
    "a2c32e6c7729": "3.0.0",
    "1cdc775ca98f": "3.0.0",
    "522625f6d606": "3.0.0",
    "16cbcb1c8c36": "3.0.0",
    "44eabb1904b4": "3.0.0",
    "0d9e73a75ee4": "3.0.0",
    "c3389cd7793f": "3.0.0",
    "5a5d66100783": "3.0.0",
    "fb2d4922cd79": "3.0.0",
    "3a8972ecb8f9": "3.0.0",
    "05234396c6fc": "3.0.0",
    "d59cbbef95eb": "3.0.0",
    "486ac7936b78": "3.0.0",
    "5f57a45b8433": "3.0.0",
    "d8cd3297971e": "3.0.0",
    "d03e4a635aa3": "3.0.0",
    "2b47dc6bc8df": "3.0.0",
    "9fc3fc5de720": "3.0.0",
    "eed27faa34e3": "3.0.0",
    "e229247a6cb1": "3.0.0",
    "038dc8bc6284": "3.0.0",
    "237cef8dfea1": "3.0.0",
    "5c9c0231baa2": "3.0.0",
    "38770795785f": "3.0.0",
    "e39a26ac59f6": "3.0.0",
    "8ea135928435": "3.0.0",
    "33b04e4bfa19": "3.0.0",
    "6a9e7a527a88": "3.0.0",
    "e00344393f31": "3.0.0",
    "7645189f3479": "3.0.0",
    "cf87489a35df": "3.0.0",
    "16f7f5ee874e": "3.0.0",
    "d469d27e2a64": "3.0.0",
    "be2cc2f742cf": "3.0.0",
    "ec62e120484d": "3.0.0",
    "0e9519b56710": "3.0.0",
    "959e216a3abb": "3.0.0",
    "29ce7909c52b": "3.0.0",
    # --- 3.0.3 ---
    "fe199e1abd77": "3.0.3",
    # --- 3.1.0 ---
    "dfee8bd5d574": "3.1.0",
    "0242ac120002": "3.1.0",
    "3ac9e5732b1f": "3.1.0",
    "583e80dfcef4": "3.1.0",
    "66a7743fe20e": "3.1.0",
    "ffdb0566c7c0": "3.1.0",
    "40f7c30a228b": "3.1.0",
    "09fa89ba1710": "3.1.0",
    "f56f68b9e02f": "3.1.0",
    "3bda03debd04": "3.1.0",
    "808787349f22": "3.1.0",
    "a169942745c2": "3.1.0",
    "7582ea3f3dd5": "3.1.0",
    "a3c7f2b18d4e": "3.1.0",
    "eaf332f43c7c": "3.1.0",
    "cc92b33c6709": "3.1.0",
    # --- 3.1.8 ---
    "82dbd68e6171": "3.1.8",
    "509b94a1042d": "3.1.8",
    # --- 3.2.0 ---
    "15d84ca19038": "3.2.0",
    "ab6dc0c82d0e": "3.2.0",
    "1b2c3d4e5f6g": "3.2.0",
    "5cc8117e9285": "3.2.0",
    "69ddce9a7247": "3.2.0",
    "b87d2135fa50": "3.2.0",
    "e812941398f4": "3.2.0",
    "665854ef0536": "3.2.0",
    "b12d4f98a91e": "3.2.0",
    "edc4f85a4619": "3.2.0",
    "c47f2e1ab9d4": "3.2.0",
    "0b112f49112d": "3.2.0",
    "e79fc784f145": "3.2.0",
    "55297ae24532": "3.2.0",
    "a5a3e5eb9b8d": "3.2.0",
    "53ff648b8a26": "3.2.0",
    "f8c9d7e6b5a4": "3.2.0",
    "e42d9fcd10d9": "3.2.0",
    "134de42d3cb0": "3.2.0",
    "6222ce48e289": "3.2.0",
    "888b59e02a5b": "3.2.0",
    "1d6611b6ab7c": "3.2.0",
    # --- 3.3.0 ---
    "a4c2d171ae18": "3.3.0",
    "9fabad868fdb": "3.3.0",
    "fde9ed84d07b": "3.3.0",
    "b8f3e4a1d2c9": "3.3.0",
    "a7f3b2c1d4e5": "3.3.0",
    "a1b2c3d4e5f6": "3.3.0",
    "acc215baed80": "3.3.0",
    "8812eb67b63c": "3.3.0",
    "a7e6d4c3b2f1": "3.3.0",
    "c9d4e5f6a7b8": "3.3.0",
    "c20871fbf23a": "3.3.0",
    "dd5f3a8e2b91": "3.3.0",
    "9ff64e1c35d3": "3.3.0",
    "d2f4e1b3c5a7": "3.3.0",
}

# FAB provider (apache-airflow-providers-fab) revision id -> provider version
# that introduced it. Table ``alembic_version_fab``.
FAB_REVISIONS: dict[str, str] = {
    "6709f7a774b9": "1.4.0",
    "02ca36b0235b": "3.5.0",
}

MIN_SUPPORTED = "2.4.0"

# Newest Airflow release whose migrations are covered, and its database head.
LATEST_KNOWN_VERSION = "3.3.2"
LATEST_REVISION = "d2f4e1b3c5a7"

# The squashed base of the 3.x tree; not the head of any release.
_SQUASHED_BASE = "4bc4d934e2bc"


def _release_heads() -> dict[str, str]:
    """Return Airflow version -> the revision it left the database at.

    Only versions that added migrations appear. Versions in between keep the
    previous head (for example 2.10.4, 2.10.5 and 2.11.x keep 2.10.3's head).
    """
    heads: dict[str, str] = {}
    for revision, version in REVISIONS.items():
        if revision != _SQUASHED_BASE:
            heads[version] = revision
    return heads


# Airflow version -> database head after upgrading to it. Matches Airflow's
# ``_REVISION_HEADS_MAP`` for the versions covered.
RELEASE_HEADS: dict[str, str] = _release_heads()


def airflow_version_for(revision: str) -> str | None:
    """Return the Airflow version that introduced an alembic revision.

    ``revision`` is a value from the metadata database's ``alembic_version``
    table. The result is the version whose migrations added that revision, so
    it means "schema of Airflow >= X": the database was last migrated by X or by
    a later release that added no migrations of its own. A release without
    migrations keeps the previous head, so it reports as the earlier version.
    For example ``5f2621c13b39`` (the head of 2.10.3, 2.10.4, 2.10.5 and 2.11.x)
    gives "2.10.3", and ``d2f4e1b3c5a7`` (the head of 3.3.0 to 3.3.2) gives
    "3.3.0".

    Returns None for revisions not in the table: migrations older than 2.0.0,
    unreleased development revisions, or non-Airflow ids.
    """
    return REVISIONS.get(revision.strip().lower())


def fab_provider_version_for(revision: str) -> str | None:
    """Return the FAB provider version that introduced a revision.

    ``revision`` is a value from the ``alembic_version_fab`` table. As with
    :func:`airflow_version_for`, the result means "schema of the FAB provider
    >= X". Returns None for unknown revisions.
    """
    return FAB_REVISIONS.get(revision.strip().lower())


def _version_tuple(version: str) -> tuple[int, int, int]:
    """Parse "X.Y.Z" (suffixes such as "rc1" or "+local" ignored) to a tuple.

    Raises ValueError if the string does not start with a number.
    """
    release = version.strip().split("+", 1)[0]
    parts: list[int] = []
    for piece in release.split(".")[:3]:
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
    if not parts:
        raise ValueError(f"not a version: {version!r}")
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def is_supported(version: str) -> bool:
    """Return True if ``version`` is >= MIN_SUPPORTED and below 4.0.0.

    Unparseable version strings are not supported.
    """
    try:
        parsed = _version_tuple(version)
    except ValueError:
        return False
    return _version_tuple(MIN_SUPPORTED) <= parsed < (4, 0, 0)
