"""Unit tests of scripts/check-module-cycles: small crates written to a temporary directory,
with and without a loop. Run: python3 -m unittest discover -s scripts/tests"""

import io
import os
import tempfile
import textwrap
import unittest

from script_loader import REPO, load

cmc = load("check-module-cycles")


def write_tree(root: str, files: dict) -> None:
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(text))


def run_crate(files: dict, *, show_files: bool = False) -> tuple[int, str]:
    """Writes a one-crate workspace (`demo`) and returns (targets failing, report)."""
    with tempfile.TemporaryDirectory() as ws:
        write_tree(ws, {
            "Cargo.toml": '[workspace]\nmembers = ["demo"]\n',
            "demo/Cargo.toml": '[package]\nname = "demo"\nversion = "0.1.0"\n',
        })
        write_tree(os.path.join(ws, "demo"), files)
        out = io.StringIO()
        failing = cmc.check(ws, show_files, out)
        return failing, out.getvalue()


class Cycles(unittest.TestCase):
    def test_one_way_imports_pass(self):
        failing, out = run_crate({
            "src/lib.rs": "mod a;\nmod b;\nmod c;\npub use a::run;\n",
            "src/a.rs": "use crate::b::B;\npub fn run() -> B { B }\n",
            "src/b.rs": "use crate::c;\npub struct B;\nfn f() { c::g() }\n",
            "src/c.rs": "pub fn g() {}\n",
        })
        self.assertEqual(failing, 0, out)
        self.assertIn("demo (lib): ok (3 top-level modules, 3 in all)", out)

    def test_use_crate_loop_is_reported_with_its_lines(self):
        failing, out = run_crate({
            "src/lib.rs": "mod a;\nmod b;\n",
            "src/a.rs": "use crate::b::B;\npub struct A;\n",
            "src/b.rs": "pub struct B;\n\nuse crate::a::A;\n",
        })
        self.assertEqual(failing, 1)
        self.assertIn("demo (lib): MODULE CYCLE", out)
        self.assertIn("a → b → a", out)
        self.assertIn("demo/src/a.rs:1: use crate::b::B;", out)
        self.assertIn("demo/src/b.rs:3: use crate::a::A;", out)

    def test_submodules_fold_into_their_top_level_module(self):
        failing, out = run_crate({
            "src/lib.rs": "mod cache;\nmod metrics;\n",
            "src/cache.rs": "mod redis;\npub struct Entry;\n",
            "src/cache/redis.rs": "use crate::metrics::Metrics;\n",
            "src/metrics.rs": "pub struct Metrics;\nfn f(_: super::cache::Entry) {}\n",
        })
        self.assertEqual(failing, 1)
        self.assertIn("cache → metrics → cache", out)
        self.assertIn("demo/src/cache/redis.rs:1:", out)
        self.assertIn("demo/src/metrics.rs:2:", out)

    def test_mod_rs_layout_and_nested_super(self):
        failing, out = run_crate({
            "src/lib.rs": "mod kraken;\nmod feed;\n",
            "src/kraken/mod.rs": "pub mod ws;\npub mod rest;\n",
            "src/kraken/ws.rs": "use super::super::feed::Feed;\n",
            "src/kraken/rest.rs": "pub struct Fetched;\n",
            "src/feed.rs": "pub struct Feed;\nuse crate::kraken::rest::Fetched;\n",
        })
        self.assertEqual(failing, 1)
        self.assertIn("feed → kraken → feed", out)

    def test_written_paths_count_not_only_use_lines(self):
        failing, out = run_crate({
            "src/lib.rs": "mod a;\nmod b;\n",
            "src/a.rs": "pub fn f() { crate::b::g(); }\n",
            "src/b.rs": "pub fn g() {}\npub fn h() -> Option<crate::a::X> { None }\n",
        })
        self.assertEqual(failing, 1)
        self.assertIn("demo/src/a.rs:1: pub fn f() { crate::b::g(); }", out)

    def test_re_export_is_followed_to_the_defining_module(self):
        # `crate::Thing` is `a::Thing`, so b → a; a → b closes the loop. The root's own
        # `pub use` is a facade and makes no `crate → a` edge.
        failing, out = run_crate({
            "src/lib.rs": "mod a;\nmod b;\npub use a::Thing;\n",
            "src/a.rs": "pub struct Thing;\nuse crate::b;\n",
            "src/b.rs": "use crate::Thing;\n",
        })
        self.assertEqual(failing, 1)
        self.assertIn("a → b → a", out)
        self.assertNotIn("crate →", out)

    def test_re_export_chain_through_a_submodule(self):
        failing, out = run_crate({
            "src/lib.rs": "mod cache;\nmod render;\n",
            "src/cache.rs": "mod entry;\npub use self::entry::Entry;\n",
            "src/cache/entry.rs": "pub struct Entry;\nfn f() { crate::render::g(); }\n",
            "src/render.rs": "use crate::cache::Entry;\npub fn g() {}\n",
        })
        self.assertEqual(failing, 1)
        self.assertIn("cache → render → cache", out)

    def test_loop_through_an_item_of_the_crate_root(self):
        failing, out = run_crate({
            "src/lib.rs": "mod a;\npub const LIMIT: u32 = 3;\nfn f() { a::g(); }\n",
            "src/a.rs": "pub fn g() -> u32 { crate::LIMIT }\n",
        })
        self.assertEqual(failing, 1)
        self.assertIn("a → crate → a", out)

    def test_facade_used_by_its_own_module_is_an_edge(self):
        failing, out = run_crate({
            "src/lib.rs": "mod config;\npub use config::Config;\npub const NAME: &str = \"x\";\n"
                          "fn f(_: Config) {}\n",
            "src/config.rs": "pub struct Config;\nfn g() -> &'static str { crate::NAME }\n",
        })
        self.assertEqual(failing, 1)
        self.assertIn("config → crate → config", out)

    def test_test_code_comments_and_strings_are_ignored(self):
        failing, out = run_crate({
            "src/lib.rs": "mod a;\nmod b;\n",
            "src/a.rs": "use crate::b::B;\n",
            "src/b.rs": textwrap.dedent("""\
                pub struct B;
                // use crate::a::A;
                /* crate::a::f(); /* nested */ crate::a::f(); */
                const S: &str = "crate::a::f()";
                const R: &str = r#"use crate::a::A; "quoted""#;
                const C: char = '"';
                fn life<'a>(x: &'a str) -> &'a str { x }
                #[cfg(test)]
                mod tests {
                    use crate::a::A;
                }
                #[cfg(test)]
                use crate::a::A;
                #[cfg(all(test, feature = "x"))]
                fn helper() { crate::a::f(); }
            """),
        })
        self.assertEqual(failing, 0, out)

    def test_cfg_test_module_file_is_not_read(self):
        failing, out = run_crate({
            "src/lib.rs": "mod a;\nmod b;\n",
            "src/a.rs": "use crate::b::B;\n#[cfg(test)]\n#[path = \"a_tests.rs\"]\nmod tests;\n",
            "src/a_tests.rs": "use crate::b::B;\n",
            "src/b.rs": "pub struct B;\n#[cfg(test)]\nmod tests;\n",
            "src/b/tests.rs": "use crate::a::A;\n",
        })
        self.assertEqual(failing, 0, out)

    def test_path_attribute_module_is_read(self):
        failing, out = run_crate({
            "src/lib.rs": "mod a;\nmod b;\n",
            "src/a.rs": "#[path = \"a_impl.rs\"]\nmod imp;\npub struct A;\n",
            "src/a_impl.rs": "use crate::b::B;\n",
            "src/b.rs": "pub struct B;\nuse crate::a::A;\n",
        })
        self.assertEqual(failing, 1)
        self.assertIn("demo/src/a_impl.rs:1: use crate::b::B;", out)

    def test_grouped_self_alias_and_glob_uses(self):
        failing, out = run_crate({
            "src/lib.rs": "mod a;\nmod b;\nmod c;\n",
            "src/a.rs": "use crate::{b::{self as bee}, c::*};\npub struct A;\n",
            "src/b.rs": "pub struct B;\n",
            "src/c.rs": "use crate::a::A as Renamed;\n",
        })
        self.assertEqual(failing, 1)
        self.assertIn("a → c → a", out)
        self.assertNotIn("a → b → a", out)

    def test_inline_module_and_child_relative_paths(self):
        failing, out = run_crate({
            "src/lib.rs": "mod outer {\n    pub mod inner;\n    pub fn f() { inner::g() }\n}\n"
                          "mod other;\n",
            "src/outer/inner.rs": "pub fn g() { crate::other::h() }\n",
            "src/other.rs": "pub fn h() {}\npub fn k() { crate::outer::f() }\n",
        })
        self.assertEqual(failing, 1)
        self.assertIn("other → outer → other", out)

    def test_extern_crate_paths_are_not_edges(self):
        failing, out = run_crate({
            "src/lib.rs": "mod config;\nmod other;\n",
            "src/config.rs": "use crate::other::X;\n",
            # `common::config` is another crate's module of the same name.
            "src/other.rs": "pub struct X;\nuse common::config::Invalid;\n"
                            "fn f() { ::std::mem::drop(common::config::load()); }\n",
        })
        self.assertEqual(failing, 0, out)

    def test_files_option_shows_loops_inside_a_module(self):
        failing, out = run_crate({
            "src/lib.rs": "mod m;\n",
            "src/m.rs": "mod x;\npub const K: u8 = 1;\nfn f() { x::g() }\n",
            "src/m/x.rs": "pub fn g() -> u8 { super::K }\n",
        }, show_files=True)
        self.assertEqual(failing, 0, out)
        self.assertIn("file level (information):", out)
        self.assertIn("m → m::x → m", out)

    def test_bin_targets_are_checked_on_their_own(self):
        failing, out = run_crate({
            "src/lib.rs": "pub fn lib() {}\n",
            "src/main.rs": "mod cli;\nmod run;\nfn main() {}\n",
            "src/cli.rs": "use crate::run::go;\npub struct Args;\n",
            "src/run.rs": "pub fn go(_: crate::cli::Args) {}\n",
        })
        self.assertEqual(failing, 1)
        self.assertIn("demo (lib): ok", out)
        self.assertIn("demo (bin demo): MODULE CYCLE", out)

    def test_missing_module_file_is_an_error(self):
        with self.assertRaises(cmc.ParseError):
            run_crate({"src/lib.rs": "mod gone;\n"})


class Tokenizer(unittest.TestCase):
    def test_strings_comments_chars_and_lifetimes(self):
        src = 'a /* x /* y */ z */ b "c\\"d" r##"e"#f"## \'g\' \'\\n\' \'h i // j\nk b"l" br"m"'
        kinds = [(t.kind, t.text) for t in cmc.tokenize(src)]
        self.assertEqual(kinds, [
            ("id", "a"), ("id", "b"), ("str", 'c\\"d'), ("str", 'e"#f'), ("lifetime", "'h"),
            ("id", "i"), ("id", "k"), ("str", "l"), ("str", "m"),
        ])

    def test_line_numbers_survive_multiline_strings(self):
        tokens = cmc.tokenize('let s = "one\ntwo";\n/* a\nb */ x')
        self.assertEqual([t.line for t in tokens if t.text == "x"], [4])


class ThisRepository(unittest.TestCase):
    def test_reads_every_crate_of_the_workspace(self):
        # Guards against a check that passes because it found nothing to read.
        targets = cmc.workspace_targets(REPO)
        crates = {t.crate for t in targets}
        for name in ("ltp-common", "ingestor", "query-api", "kraken-sim"):
            self.assertIn(name, crates)
        for t in targets:
            if t.kind == "lib" and t.crate in ("ingestor", "query-api", "kraken-sim"):
                root = cmc.CrateParser(REPO).load(t.root_file)
                self.assertGreater(len(list(root.walk())), 8, t.crate)
                self.assertGreater(len(cmc.edges_of(root, fold=True)), 8, t.crate)


if __name__ == "__main__":
    unittest.main()
