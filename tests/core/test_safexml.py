"""Outside XML is refused before it can hurt: entities, external references, size, syntax."""

import pytest

from machi.core import safexml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<r>&secret;</r>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">
<r/>"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD])
def test_hostile_documents_are_refused(document: bytes) -> None:
    with pytest.raises(safexml.XmlRejected, match="unsafe XML"):
        safexml.parse(document)


def test_size_limit_is_checked_before_parsing() -> None:
    with pytest.raises(safexml.XmlRejected, match="too large"):
        safexml.parse(b"<a>" + b"x" * 2000 + b"</a>", max_bytes=1000)


def test_malformed_xml_says_where() -> None:
    with pytest.raises(safexml.XmlRejected) as caught:
        safexml.parse(b"<a>\n<b></a>")
    assert caught.value.line == 2


def test_a_plain_document_parses() -> None:
    root = safexml.parse("<a xmlns='urn:x'><b> text </b></a>")
    assert safexml.text(root, "x:b", {"x": "urn:x"}) == "text"
