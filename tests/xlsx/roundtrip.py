"""The spreadsheet as a working copy, with spreadsheet programs we did not write (issue #20).

The real binary exports a production as .xlsx (`venuebox export`); openpyxl edits it the way a
person would (a renamed source, a number typed as text, a real date, TRUE, a new row); LibreOffice
re-saves it (`soffice --headless --convert-to xlsx`); `venuebox import` brings it back. Checked:
exactly the edited fields change; the LibreOffice copy imports the same; a formula is taken at
the value LibreOffice computed and refused where nothing computed it; a field changed both on the
box and in the sheet is a conflict that changes nothing unless told; a bad cell changes nothing
and is named.

Usage: python tests/xlsx/roundtrip.py path/to/venuebox   (python with openpyxl; soffice on PATH)
"""
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from openpyxl import load_workbook

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Box:
    def __init__(self, binary, folder):
        self.binary = binary
        self.log = open(os.path.join(folder, "box.log"), "w+")
        env = dict(os.environ, VENUEBOX_AUTH_MODE="open")
        self.process = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--no-mdns", "--data-dir", os.path.join(folder, "data")],
            stderr=self.log,
            env=env,
        )
        for _ in range(400):
            self.log.seek(0)
            found = re.search(r"serving on (http://127\.0\.0\.1:\d+)", self.log.read())
            if found:
                self.base = found.group(1)
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.log.seek(0)
        raise SystemExit("the box did not start:\n" + self.log.read())

    def call(self, method, path, body=None, content_type="application/json"):
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("content-type", content_type)
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def cli(self, *args):
        return subprocess.run(
            [self.binary, *args, "--url", self.base], capture_output=True, text=True, timeout=60
        )

    def rows(self, family, production):
        status, rows = self.call("GET", f"/api/{family}/production/{production}")
        assert status == 200, (status, rows)
        return rows

    def dry_run(self, production, path):
        with open(path, "rb") as file:
            status, report = self.call(
                "POST", f"/api/productions/{production}/workbook?dryRun=true", file.read(), XLSX
            )
        assert status == 200, (status, report)
        return report

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)


def libreoffice_resave(source, folder):
    """The workbook opened and saved again by LibreOffice Calc (formulas recomputed)."""
    out = os.path.join(folder, "libreoffice")
    os.makedirs(out, exist_ok=True)
    profile = "file://" + os.path.join(folder, "lo-profile")
    subprocess.run(
        ["soffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to", "xlsx",
         "--outdir", out, source],
        check=True, capture_output=True, timeout=180,
    )
    return os.path.join(out, os.path.basename(source))


def columns(sheet):
    return {cell.value: cell.column for cell in sheet[1]}


def row_of(sheet, column, value):
    col = columns(sheet)[column]
    for row in range(2, sheet.max_row + 1):
        if sheet.cell(row=row, column=col).value == value:
            return row
    raise AssertionError(f"{sheet.title}: no row with {column} = {value}")


def content(rows):
    """Every field but the ones each write moves (version, times, author)."""
    moved = {"version", "updatedAt", "lastModifiedBy", "syncedAt"}
    return [{k: v for k, v in row.items() if k not in moved} for row in rows]


def main():
    binary = os.path.abspath(sys.argv[1])
    folder = tempfile.mkdtemp(prefix="venuebox-xlsx-")
    box = Box(binary, folder)
    checks = 0
    try:
        status, _ = box.call("POST", "/api/productions", {"id": "train-show", "name": "Train show", "client": "ACME"})
        assert status == 201
        for name in ["Cam 1", "Cam 2", "Cam 3"]:
            status, _ = box.call("POST", "/api/sources", {"productionId": "train-show", "name": name, "type": "camera"})
            assert status == 201
        for title in ["Power", "Patch"]:
            status, _ = box.call("POST", "/api/checklist-items", {"productionId": "train-show", "title": title})
            assert status == 201
        sources_before = box.rows("sources", "train-show")
        items_before = box.rows("checklist-items", "train-show")

        exported = os.path.join(folder, "show.xlsx")
        result = box.cli("export", "--production", "train-show", "--out", exported)
        assert result.returncode == 0, result.stderr

        # 1. Edited with openpyxl as a person would, on the train.
        book = load_workbook(exported)
        assert book["venuebox"].sheet_state == "hidden"
        sources = book["sources"]
        col = columns(sources)
        assert list(col)[-1] == "uuid", "the uuid is the last column"
        cam2 = row_of(sources, "name", "Cam 2")
        sources.cell(row=cam2, column=col["name"]).value = "Cam 2 wide"
        sources.cell(row=cam2, column=col["hRes"]).value = "1920"  # a number stored as text
        cam3 = row_of(sources, "name", "Cam 3")
        sources.cell(row=cam3, column=col["note"]).value = 42  # a number in a text field
        new = sources.max_row + 1
        sources.cell(row=new, column=col["name"]).value = "Jib"
        sources.cell(row=new, column=col["type"]).value = "camera"
        items = book["checklist-items"]
        icol = columns(items)
        power = row_of(items, "title", "Power")
        items.cell(row=power, column=icol["dueDate"]).value = datetime.datetime(2026, 12, 24, 18, 0)
        items.cell(row=power, column=icol["completed"]).value = True
        production = book["production"]
        production.cell(row=row_of(production, "field", "venue"), column=2).value = "Arena"
        edited = os.path.join(folder, "edited.xlsx")
        book.save(edited)

        # 2. The dry run says what would change and changes nothing.
        result = box.cli("import", edited, "--production", "train-show", "--dry-run")
        assert result.returncode == 0, result.stderr
        assert "would be 1 created, 4 updated, 0 deleted" in result.stdout, result.stdout
        assert 'name: "Cam 2" → "Cam 2 wide"' in result.stdout, result.stdout
        assert box.rows("sources", "train-show") == sources_before
        checks += 1

        # 3. LibreOffice re-saves it: the same changes.
        resaved = libreoffice_resave(edited, folder)
        assert load_workbook(resaved)["venuebox"].sheet_state == "hidden"
        plan_openpyxl = box.dry_run("train-show", edited)
        plan_libreoffice = box.dry_run("train-show", resaved)
        for plan in (plan_openpyxl, plan_libreoffice):
            plan.pop("exportId")
        assert plan_openpyxl == plan_libreoffice, (plan_openpyxl, plan_libreoffice)
        checks += 1

        # 4. Imported (the LibreOffice copy): exactly the edited fields changed.
        result = box.cli("import", resaved, "--production", "train-show")
        assert result.returncode == 0, result.stderr
        assert "applied: 1 created, 4 updated, 0 deleted" in result.stdout, result.stdout
        sources_after = box.rows("sources", "train-show")
        expected = content(sources_before)
        for row in expected:
            if row["name"] == "Cam 2":
                row.update(name="Cam 2 wide", hRes=1920)
            if row["name"] == "Cam 3":
                row.update(note="42")
        assert content(sources_after[:3]) == expected, (content(sources_after[:3]), expected)
        assert sources_after[3]["name"] == "Jib" and sources_after[3]["id"] == "SRC 4", sources_after[3]
        items_after = box.rows("checklist-items", "train-show")
        expected = content(items_before)
        expected[0].update(dueDate="2026-12-24T18:00:00.000Z", completed=True)
        # Completing an item stamps completedAt: the box's rule for any completion.
        assert items_after[0]["completedAt"], items_after[0]
        expected[0]["completedAt"] = items_after[0]["completedAt"]
        assert content(items_after) == expected, (content(items_after), expected)
        status, show = box.call("GET", "/api/productions/train-show")
        assert show["venue"] == "Arena", show
        # The same file again: nothing new, the new row is not added twice.
        result = box.cli("import", resaved, "--production", "train-show")
        assert result.returncode == 0, result.stderr
        assert "applied: 0 created, 0 updated, 0 deleted" in result.stdout, result.stdout
        assert len(box.rows("sources", "train-show")) == 4
        checks += 1

        # 5. Formulas: LibreOffice's computed value is taken; one nobody computed is refused.
        second = os.path.join(folder, "second.xlsx")
        assert box.cli("export", "--production", "train-show", "--out", second).returncode == 0
        book = load_workbook(second)
        sources = book["sources"]
        col = columns(sources)
        jib = row_of(sources, "name", "Jib")
        sources.cell(row=jib, column=col["note"]).value = '=CONCATENATE("on ","track")'
        formula = os.path.join(folder, "formula.xlsx")
        book.save(formula)
        result = box.cli("import", formula, "--production", "train-show")
        assert result.returncode != 0, result.stdout
        assert "(note): the cell holds the formula" in result.stderr, result.stderr
        result = box.cli("import", libreoffice_resave(formula, folder), "--production", "train-show")
        assert result.returncode == 0, result.stderr
        jib_now = [r for r in box.rows("sources", "train-show") if r["name"] == "Jib"][0]
        assert jib_now["note"] == "on track", jib_now
        checks += 1

        # 6. The box and the sheet both changed Cam 1's name: refused whole, then kept the box's.
        third = os.path.join(folder, "third.xlsx")
        assert box.cli("export", "--production", "train-show", "--out", third).returncode == 0
        cam1 = [r for r in box.rows("sources", "train-show") if r["name"] == "Cam 1"][0]
        status, _ = box.call("PUT", f"/api/sources/{cam1['uuid']}", {"name": "Cam 1 (box)", "version": cam1["version"]})
        assert status == 200
        book = load_workbook(third)
        sources = book["sources"]
        col = columns(sources)
        sources.cell(row=row_of(sources, "name", "Cam 1"), column=col["name"]).value = "Cam 1 (sheet)"
        sources.cell(row=row_of(sources, "name", "Jib"), column=col["note"]).value = "on the dolly"
        conflicting = os.path.join(folder, "conflict.xlsx")
        book.save(conflicting)
        result = box.cli("import", conflicting, "--production", "train-show")
        assert result.returncode != 0, result.stdout
        assert 'box "Cam 1 (box)" / sheet "Cam 1 (sheet)"' in result.stdout, result.stdout
        jib_now = [r for r in box.rows("sources", "train-show") if r["name"] == "Jib"][0]
        assert jib_now["note"] == "on track", "a refused import applies nothing"
        result = box.cli("import", conflicting, "--production", "train-show", "--on-conflict", "keep-box")
        assert result.returncode == 0, result.stderr
        names = {r["name"]: r for r in box.rows("sources", "train-show")}
        assert "Cam 1 (box)" in names and names["Jib"]["note"] == "on the dolly", names
        checks += 1

        # 7. A bad cell changes nothing and is named.
        fourth = os.path.join(folder, "fourth.xlsx")
        assert box.cli("export", "--production", "train-show", "--out", fourth).returncode == 0
        before = box.rows("sources", "train-show")
        book = load_workbook(fourth)
        sources = book["sources"]
        col = columns(sources)
        row = row_of(sources, "name", "Jib")
        sources.cell(row=row, column=col["hRes"]).value = "wide"
        sources.cell(row=row_of(sources, "name", "Cam 2 wide"), column=col["note"]).value = "fine"
        bad = os.path.join(folder, "bad.xlsx")
        book.save(bad)
        result = box.cli("import", bad, "--production", "train-show")
        assert result.returncode != 0
        letter = sources.cell(row=row, column=col["hRes"]).column_letter
        assert f"sources!{letter}{row} (hRes): Field \"hRes\" must be an integer" in result.stderr, result.stderr
        assert box.rows("sources", "train-show") == before, "nothing applied"
        checks += 1
    finally:
        box.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{checks} spreadsheet round-trip checks passed")


if __name__ == "__main__":
    main()
