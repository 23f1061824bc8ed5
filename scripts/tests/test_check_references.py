"""Unit tests of scripts/check-references: small repositories written to a temporary
directory, with and without bad references. Run: python3 -m unittest discover -s scripts/tests"""

import io
import os
import subprocess
import tempfile
import textwrap
import unittest
from contextlib import redirect_stdout, redirect_stderr

from script_loader import REPO, load

cr = load("check-references")

# The outside names the checker looks for, assembled so that this file does not cite them.
SHARED = "sha" + "red"
REF = "refer" + "ence"
DESIGN = "de" + "sign.md"
SEED = "seed" + "-service"
NATS = "nats" + "-practice"

KRAKEN_DOC = """\
# Kraken

## 1. WebSocket

### 1.4 Ticker

Frames. See §1.4 and [the names](#4-names).

## 8. Defects

1. first
2. second
"""


def problems_of(files: dict) -> list:
    """Writes `files` (path → text) to a temporary directory and checks them all."""
    with tempfile.TemporaryDirectory() as root:
        for rel, text in files.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(textwrap.dedent(text))
        return cr.check(root, sorted(files))


class OutsideDocuments(unittest.TestCase):
    def test_clean_repository_passes(self):
        self.assertEqual(problems_of({
            "docs/kraken-protocol.md": KRAKEN_DOC,
            "docs/guide.md": "See [Kraken](kraken-protocol.md) §1.4 and [home](../README.md).\n",
            "README.md": "Read [the guide](docs/guide.md#top) and <https://example.com/work/x>?\n",
            "src/frame.rs": "//! Frames (docs/kraken-protocol.md §1.4 and §8.2).\n",
        }), [])

    def test_absolute_and_shared_paths(self):
        problems = problems_of({
            "docs/a.md": f"see /work/{SHARED}/{REF}/{SEED}.md §7\n",
            "src/x.rs": f"// from ../{SHARED}/{DESIGN}\n",
        })
        self.assertTrue(any("docs/a.md:1: absolute path" in p for p in problems), problems)
        self.assertTrue(any("src/x.rs:1: path outside" in p for p in problems), problems)
        self.assertTrue(any(f"{REF}/{SEED}.md`" in p for p in problems), problems)
        self.assertTrue(any(f"`../{SHARED}/{DESIGN}`" in p for p in problems), problems)

    def test_named_outside_documents(self):
        problems = problems_of({
            "docs/kraken-protocol.md": KRAKEN_DOC,
            "src/a.rs": f"//! Layers ({DESIGN} §2.7).\n",
            "src/b.rs": "/// Budget (kraken-protocol §3.5).\n",
            "src/c.rs": f"//! Wording ({SEED}.md §4.3).\n",
            "src/d.rs": f"//! Subjects ({REF}/{NATS}.md).\n",
            "src/ok.rs": "//! Frames (docs/kraken-protocol.md §1.4).\n",
        })
        flagged = sorted({p.split(":")[0] for p in problems})
        self.assertEqual(flagged, ["src/a.rs", "src/b.rs", "src/c.rs", "src/d.rs"], problems)

    def test_words_that_only_look_alike_pass(self):
        self.assertEqual(problems_of({
            "src/m.rs": "/// reflected inside `[reference/2, reference*2]`; a design choice.\n",
        }), [])


class Sections(unittest.TestCase):
    def test_missing_section_is_reported(self):
        problems = problems_of({
            "docs/kraken-protocol.md": KRAKEN_DOC,
            "src/a.rs": "//! Frames (docs/kraken-protocol.md §1.5).\n",
            "src/b.rs": "//! Defects (docs/kraken-protocol.md §8.3).\n",
        })
        self.assertEqual(len(problems), 2, problems)
        self.assertIn("src/a.rs:1: docs/kraken-protocol.md has no section 1.5", problems)

    def test_headings_inside_code_blocks_are_not_sections(self):
        problems = problems_of({
            "docs/kraken-protocol.md": KRAKEN_DOC + "\n```\n## 9. shell comment\n```\n",
            "src/a.rs": "//! See docs/kraken-protocol.md §9.\n",
        })
        self.assertEqual(problems, ["src/a.rs:1: docs/kraken-protocol.md has no section 9"])

    def test_list_items_under_a_numbered_heading_are_sections(self):
        self.assertEqual(problems_of({
            "docs/kraken-protocol.md": KRAKEN_DOC,
            "src/a.rs": "// Lockout (docs/kraken-protocol.md §8.2).\n",
        }), [])

    def test_section_sign_without_a_document(self):
        problems = problems_of({"src/a.rs": "// would lock every client out (seed defect §8.18)\n"})
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("cites no document", problems[0])

    def test_wrapped_comment_carries_its_document_one_line(self):
        self.assertEqual(problems_of({
            "docs/kraken-protocol.md": KRAKEN_DOC,
            "src/a.rs": "// Frames are read as docs/kraken-protocol.md\n// says (§1.4).\n",
        }), [])
        problems = problems_of({
            "docs/kraken-protocol.md": KRAKEN_DOC,
            "src/a.rs": "// docs/kraken-protocol.md\n\n// §1.4\n",
        })
        self.assertEqual(len(problems), 1, problems)

    def test_bare_section_in_markdown_is_its_own(self):
        problems = problems_of({"docs/kraken-protocol.md": KRAKEN_DOC + "\nAs §9 says.\n"})
        self.assertEqual(problems, ["docs/kraken-protocol.md:14: docs/kraken-protocol.md has no section 9"])

    def test_missing_docs_file(self):
        problems = problems_of({"src/a.rs": "//! See docs/gone.md.\n"})
        self.assertEqual(problems, ["src/a.rs:1: `docs/gone.md` does not exist"])


class MarkdownLinks(unittest.TestCase):
    def test_broken_relative_links(self):
        problems = problems_of({
            "README.md": textwrap.dedent("""\
                [ok](docs/a.md) [gone](docs/b.md) ![img](docs/pic.png)
                [escapes](../other/x.md)
                [ref]: docs/c.md
                [dir](docs/) [url](https://example.com/x.md) [anchor](#x) [mail](mailto:a@b)
                `[code](nowhere.md)`
                ```
                [fenced](nowhere.md)
                ```
            """),
            "docs/a.md": "back to [readme](../README.md#top)\n",
        })
        targets = sorted(p.split("`")[1] for p in problems)
        self.assertEqual(targets, ["../other/x.md", "docs/b.md", "docs/c.md", "docs/pic.png"], problems)


class WholeRepository(unittest.TestCase):
    def test_main_lists_files_with_git_and_fails_on_a_bad_reference(self):
        with tempfile.TemporaryDirectory() as root:
            def write(rel, text):
                os.makedirs(os.path.dirname(os.path.join(root, rel)) or root, exist_ok=True)
                with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
                    f.write(text)
            subprocess.run(["git", "init", "-q", root], check=True)
            write(".gitignore", "ignored.md\n")
            write("README.md", "[docs](docs/a.md)\n")
            write("docs/a.md", "fine\n")
            write("ignored.md", f"see {DESIGN}\n")  # ignored by git: not read
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                self.assertEqual(cr.main([root]), 0, out.getvalue())
            write("notes.md", f"see {DESIGN}\n")  # untracked, not ignored: read
            out = io.StringIO()
            with redirect_stdout(out), redirect_stderr(io.StringIO()):
                self.assertEqual(cr.main([root]), 1)
            self.assertIn(f"notes.md:1: cites `{DESIGN}`", out.getvalue())

    def test_without_git_every_source_file_is_read(self):
        with tempfile.TemporaryDirectory() as root:
            for rel in ("README.md", "docs/a.md", "target/debug/x.md", ".git/HEAD"):
                os.makedirs(os.path.dirname(os.path.join(root, rel)) or root, exist_ok=True)
                open(os.path.join(root, rel), "w").close()
            self.assertEqual(cr.repo_files(root), ["README.md", "docs/a.md"])

    def test_this_repository_is_read(self):
        files = cr.repo_files(REPO)
        for f in ("README.md", "docs/architecture.md", "scripts/check-references"):
            self.assertIn(f, files)
        self.assertGreater(len(files), 100)


if __name__ == "__main__":
    unittest.main()
