// `lookout model inspect --dot/--svg/--html` on the shipped model, run as the
// real CLI: the SVG parses as XML, the page parses as HTML and fetches
// nothing, and in a real headless Chromium its blocks fold and unfold.
#include <fstream>
#include <string>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "app/engine/test_util.hpp"
#include "browser.hpp"

namespace t = lookout::test;
using nlohmann::json;

namespace {

t::ProcessResult lookout_cli(const std::string& args) {
  return t::run_command(t::quote(LOOKOUT_CLI) + " " + args);
}

// Python's own parsers as the judges of well-formedness (python3 is a test
// dependency already): XML for the SVG, and for the page an HTML parser that
// checks every element that needs closing is closed in order, counts the
// elements asked for, and lists any src/href that would reach the network.
constexpr const char* kCheckSvg = R"PY(
import sys, xml.etree.ElementTree as E
root = E.parse(sys.argv[1]).getroot()
ns = '{http://www.w3.org/2000/svg}'
groups = [g.get('class', '') for g in root.iter(ns + 'g')]
print(root.tag == ns + 'svg', sum('layer' in c.split() for c in groups),
      sum('block' in c.split() for c in groups), sum('edge' in c.split() for c in groups))
)PY";

constexpr const char* kCheckHtml = R"PY(
import sys, html.parser
VOID = {'meta', 'br', 'img', 'input', 'link', 'hr', 'col', 'area', 'base', 'wbr', 'source',
        'path', 'polygon', 'ellipse', 'polyline', 'stop', 'use', 'rect', 'line', 'circle'}
class Check(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.stack = []; self.errors = []; self.count = {}; self.remote = []
    def handle_starttag(self, tag, attrs):
        self.count[tag] = self.count.get(tag, 0) + 1
        for k, v in attrs:
            if k in ('src', 'href', 'xlink:href') and v and ('://' in v or v.startswith('//')):
                self.remote.append(v)
        if tag not in VOID: self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        self.count[tag] = self.count.get(tag, 0) + 1
    def handle_endtag(self, tag):
        if tag in VOID: return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append('</%s> at line %d, open: %s' % (tag, self.getpos()[0], self.stack[-3:]))
        else: self.stack.pop()
c = Check(); c.feed(open(sys.argv[1], encoding='utf-8').read()); c.close()
print(len(c.errors) + len(c.stack), c.count.get('svg', 0), c.count.get('table', 0),
      c.count.get('tr', 0), c.count.get('script', 0), len(c.remote))
for e in c.errors[:5]: print(e)
for r in c.remote[:5]: print('remote:', r)
)PY";

std::string python(const std::string& script, const std::filesystem::path& file,
                   const std::filesystem::path& dir) {
  const auto path = dir / "check.py";
  std::ofstream(path) << script;
  const auto r = t::run_command(t::quote(LOOKOUT_PYTHON) + " " + t::quote(path.string()) + " " +
                                t::quote(file.string()) + " 2>&1");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out);
  return r.out;
}

}  // namespace

TEST_CASE("the layer graph as DOT, SVG and one offline HTML page whose blocks fold in Chromium") {
  const auto dir = t::scratch_dir("cli-graph-picture");
  const auto dot = dir / "shapes.dot", svg = dir / "shapes.svg", page = dir / "shapes.html";
  auto r =
      lookout_cli("model inspect --layers --json --dot " + t::quote(dot.string()) + " --svg " +
                  t::quote(svg.string()) + " --html " + t::quote(page.string()) + " " +
                  t::quote(t::shipped_model()) + " 2>&1 >" + t::quote((dir / "out.json").string()));
  REQUIRE_MESSAGE(r.exit_code == 0, r.out);
  CHECK(r.out.find("wrote the model page (HTML)") != std::string::npos);
  const json j = json::parse(t::read_text(dir / "out.json"));
  const json& layers = j["layers"]["layers"];
  const json& blocks = j["layers"]["blocks"];
  REQUIRE(layers.size() > 100);
  CHECK(j["layers"]["parameters"] == 446530);
  CHECK(j["layers"]["macs"] == 141952000);

  // Drawn: every layer outside the decoding (which is drawn as one box of
  // its 76 operators), every block but that one, an edge per data path.
  std::size_t decoding = 0;
  for (const auto& l : layers) decoding += l["name"] == "decode";
  CHECK(decoding == 76);
  const std::string dot_text = t::read_text(dot);
  CHECK(dot_text.rfind("digraph", 0) == 0);
  CHECK(dot_text.find("model.2.cv1.conv\\nConv2d 1x1 + SiLU\\n16 -> 8 ch\\n[1, 8, 80, 80]") !=
        std::string::npos);
  CHECK(dot_text.find("decode  DetectDecode\\n76 operators\\n[1, 6300, 10]") != std::string::npos);

  std::istringstream svg_counts(python(kCheckSvg, svg, dir));
  std::string is_svg;
  std::size_t drawn_layers = 0, drawn_blocks = 0, drawn_edges = 0;
  svg_counts >> is_svg >> drawn_layers >> drawn_blocks >> drawn_edges;
  CHECK(is_svg == "True");
  CHECK(drawn_layers == layers.size() - decoding + 1);
  CHECK(drawn_blocks == blocks.size() - 1);
  CHECK(drawn_edges > layers.size() - decoding);

  const std::string html_report = python(kCheckHtml, page, dir);
  std::istringstream html_counts(html_report);
  int errors = -1, svgs = 0, tables = 0, rows = 0, scripts = 0, remote = -1;
  html_counts >> errors >> svgs >> tables >> rows >> scripts >> remote;
  CHECK_MESSAGE(errors == 0, html_report);
  CHECK(svgs == 1);
  CHECK(tables == 1);
  CHECK(rows == static_cast<int>(layers.size()) + 2);  // head, layers, total
  CHECK(scripts == 1);
  CHECK_MESSAGE(remote == 0, html_report);

  // In a real browser: the page draws, a block folds (its layers and the
  // edges inside go), unfolds, and "Fold all" leaves only what is outside
  // every block.
  const auto browser = t::start_browser_or_skip(dir, 1400, 1800, "the model page's browser test");
  if (!browser) return;
  browser->navigate("file://" + page.string());
  const std::string state = R"JS((() => {
    const shown = s => [...document.querySelectorAll(s)].filter(e => e.style.display !== 'none').length;
    return {layers: shown('#graph g.layer'), edges: shown('#graph g.edge'),
            blocks: document.querySelectorAll('#graph g.block').length,
            folded: document.querySelectorAll('#graph g.block.folded').length};
  })())JS";
  const json before = browser->evaluate(state);
  CHECK(before["layers"] == drawn_layers);
  CHECK(before["blocks"] == drawn_blocks);
  CHECK(before["folded"] == 0);

  // model.2, the first C3: 7 layers drawn inside it (cv1, the Bottleneck's
  // two convolutions and add, cv2, cat, cv3).
  int c3 = -1;
  for (std::size_t c = 0; c < blocks.size(); ++c) {
    if (blocks[c]["name"] == "model.2") c3 = static_cast<int>(c);
  }
  REQUIRE(c3 >= 0);
  int in_c3 = 0;
  for (const auto& l : layers) {
    for (int c = l["block"].get<int>(); c >= 0; c = blocks[static_cast<std::size_t>(c)]["parent"]) {
      if (c == c3) ++in_c3;
    }
  }
  CHECK(in_c3 == 7);
  const std::string click = "document.getElementById('cluster-" + std::to_string(c3) +
                            "').dispatchEvent(new MouseEvent('click', {bubbles: true})), true";
  browser->evaluate(click);
  const json folded = browser->evaluate(state);
  CHECK(folded["layers"] == drawn_layers - in_c3);
  CHECK(folded["edges"].get<int>() < before["edges"].get<int>());
  CHECK(folded["folded"] == 1);
  browser->evaluate(click);
  CHECK(browser->evaluate(state) == before);

  browser->evaluate("document.getElementById('fold-all').click(), true");
  const json all = browser->evaluate(state);
  std::size_t outside = 1;  // the decoding's box sits in no drawn block
  for (const auto& l : layers) outside += l["block"] == -1;
  CHECK(all["folded"] == drawn_blocks);
  CHECK(all["layers"] == outside);
  browser->evaluate("document.getElementById('unfold-all').click(), true");
  CHECK(browser->evaluate(state) == before);

  const std::string png = browser->screenshot();
  REQUIRE(png.size() > 8);
  CHECK(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  std::ofstream(dir / "shapes.png", std::ios::binary) << png;
}

TEST_CASE("the picture does not depend on Graphviz's plugin list (config6a)") {
  // GVBINDIR tells libgvc where its plugins and their list are; an empty
  // directory is what a system looks like where libgvc6's postinst never ran
  // (a sysroot under qemu, an image unpacked without maintainer scripts).
  const auto dir = t::scratch_dir("cli-graph-no-plugin-list");
  const auto empty = dir / "no-plugins";
  std::filesystem::create_directories(empty);
  const auto svg = dir / "shapes.svg";
  const auto r =
      t::run_command("GVBINDIR=" + t::quote(empty.string()) + " " + t::quote(LOOKOUT_CLI) +
                     " model inspect --svg " + t::quote(svg.string()) + " " +
                     t::quote(t::shipped_model()) + " 2>&1");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out);
  CHECK(t::read_text(svg).find("<svg") != std::string::npos);
}
