"""Japanese first: every string is translated, and the compiled catalogue is current."""

import gettext
import re
from pathlib import Path

import machi

LOCALE = Path(machi.__file__).parent / "locale"


def po_entries(path: Path) -> list[tuple[str, str]]:
    """(msgid, all msgstr text) per entry; enough of the PO format for this check."""
    entries = []
    for block in path.read_text("utf-8").split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#")]
        text = "\n".join(lines)
        msgid = "".join(re.findall(r'^(?:msgid |")(".*"|.*")$', text, re.M)[:1])
        parts = re.split(r"^msgstr(?:\[\d\])? ", text, flags=re.M)
        if len(parts) < 2:
            continue
        msgstr = "".join(re.findall(r'"(.*)"', "\n".join(parts[1:])))
        entries.append((msgid, msgstr))
    return entries


def test_every_string_has_a_japanese_translation() -> None:
    entries = po_entries(LOCALE / "ja" / "LC_MESSAGES" / "django.po")
    missing = [msgid for msgid, msgstr in entries[1:] if not msgstr]
    assert len(entries) > 100
    assert missing == [], "untranslated: run `make messages` and translate"
    text = (LOCALE / "ja" / "LC_MESSAGES" / "django.po").read_text("utf-8")
    assert "#, fuzzy" not in text, "a fuzzy translation is not compiled: check and unmark it"


def test_the_compiled_catalogue_matches_the_po_file() -> None:
    po = LOCALE / "ja" / "LC_MESSAGES" / "django.po"
    with (LOCALE / "ja" / "LC_MESSAGES" / "django.mo").open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)
    assert catalogue.gettext("Skip to main content") == "本文へ移動"
    assert (
        catalogue.ngettext("%(counter)s facility", "%(counter)s facilities", 5) == "%(counter)s施設"
    )
    translated = len(po_entries(po)) - 1  # without the header
    assert len(catalogue._catalog) - 1 >= translated, "run `make messages` to compile the .mo"  # type: ignore[attr-defined]
