"""Reads the first worksheet of an .xlsx workbook as rows of strings, with the standard library.

An .xlsx file is a zip of SpreadsheetML parts: xl/workbook.xml names the sheets,
xl/_rels/workbook.xml.rels maps them to part files, xl/sharedStrings.xml holds the text that
cells of type "s" index into. Enough of the format for data tables (MeQSum); formulas are read
as their cached values.
"""

import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")


class XlsxError(ValueError):
  pass


def _column_index(letters: str) -> int:
  index = 0
  for char in letters:
    index = index * 26 + (ord(char) - ord("A") + 1)
  return index - 1


def _rich_text(element: ET.Element) -> str:
  """Text of an <si> or <is> element: its <t>, or the <t> of each run <r> (phonetic runs
  <rPh> are not part of the value)."""
  direct = element.find(f"{_MAIN}t")
  if direct is not None:
    return direct.text or ""
  return "".join(t.text or "" for r in element.findall(f"{_MAIN}r")
                 for t in r.findall(f"{_MAIN}t"))


def _first_sheet_part(archive: zipfile.ZipFile) -> str:
  workbook = ET.fromstring(archive.read("xl/workbook.xml"))
  sheet = workbook.find(f"{_MAIN}sheets/{_MAIN}sheet")
  if sheet is None:
    raise XlsxError("workbook has no sheets")
  rel_id = sheet.get(f"{_REL}id")
  rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
  for rel in rels.findall(f"{_PKG_REL}Relationship"):
    if rel.get("Id") == rel_id:
      target = rel.get("Target", "")
      return target.lstrip("/") if target.startswith("/") else posixpath.normpath(
          posixpath.join("xl", target))
  raise XlsxError(f"no part for sheet relationship {rel_id!r}")


def read_first_sheet(path: str) -> list[list[str]]:
  """Rows of the first worksheet, each a list of cell strings ("" for empty cells)."""
  try:
    with zipfile.ZipFile(path) as archive:
      names = set(archive.namelist())
      shared = []
      if "xl/sharedStrings.xml" in names:
        table = ET.fromstring(archive.read("xl/sharedStrings.xml"))
        shared = [_rich_text(si) for si in table.findall(f"{_MAIN}si")]
      sheet = ET.fromstring(archive.read(_first_sheet_part(archive)))
  except (zipfile.BadZipFile, KeyError, ET.ParseError, OSError) as e:
    raise XlsxError(f"not a readable .xlsx workbook: {e}") from None

  rows: list[list[str]] = []
  for row in sheet.iter(f"{_MAIN}row"):
    cells: dict[int, str] = {}
    for position, cell in enumerate(row.findall(f"{_MAIN}c")):
      match = _CELL_REF.fullmatch(cell.get("r", ""))
      column = _column_index(match.group(1)) if match else position
      kind = cell.get("t", "n")
      value = cell.find(f"{_MAIN}v")
      raw = value.text if value is not None and value.text is not None else ""
      if kind == "s":
        try:
          cells[column] = shared[int(raw)]
        except (ValueError, IndexError):
          raise XlsxError(f"cell {cell.get('r')} points to no shared string") from None
      elif kind == "inlineStr":
        inline = cell.find(f"{_MAIN}is")
        cells[column] = _rich_text(inline) if inline is not None else ""
      elif kind == "b":
        cells[column] = "TRUE" if raw == "1" else "FALSE"
      else:
        cells[column] = raw
    row_number = int(row.get("r", len(rows) + 1))
    while len(rows) < row_number - 1:  # rows that Excel omitted because they are empty
      rows.append([])
    width = max(cells) + 1 if cells else 0
    rows.append([cells.get(i, "") for i in range(width)])
  return rows
