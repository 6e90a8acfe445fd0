import { describe, expect, test } from "vitest";
import { Fragment, Html, jsx } from "../../../src/worker/admin/jsx-runtime.ts";

// The page's own JSX runtime (it replaced hono/jsx for size): what it writes is what a browser
// parses, so escaping is the part that matters.
describe("the operator's page's JSX runtime", () => {
  test("text and attribute values are escaped; markup already rendered is not escaped again", () => {
    const cell = jsx("td", {
      title: `"><script>x</script>`,
      children: ["<b>&", 3, jsx("i", { children: "ok" })],
    });
    expect(cell.toString()).toBe(
      `<td title="&quot;&gt;&lt;script&gt;x&lt;/script&gt;">&lt;b&gt;&amp;3<i>ok</i></td>`,
    );
  });

  test("null, undefined and false leave an attribute or a child out; true writes it bare; key is dropped", () => {
    const input = jsx("input", {
      type: "checkbox",
      checked: true,
      disabled: false,
      title: undefined,
      key: 7,
    });
    expect(input.toString()).toBe(`<input type="checkbox" checked/>`);
    expect(jsx("p", { children: [null, undefined, false, true, "", 0] }).toString()).toBe("<p>0</p>");
  });

  test("void elements have no closing tag; others always do", () => {
    expect(jsx("meta", { charset: "utf-8" }).toString()).toBe(`<meta charset="utf-8"/>`);
    expect(jsx("td", {}).toString()).toBe("<td></td>");
  });

  test("components get their props and children; fragments add no element", () => {
    const Row = (props: { name: string; children?: unknown }) =>
      jsx("tr", {
        children: [jsx("th", { children: props.name }), jsx("td", { children: props.children as string })],
      });
    const table = jsx("table", {
      children: jsx(Fragment, {
        children: [jsx(Row, { name: "a<", children: "1" }), jsx(Row, { name: "b", children: "2" })],
      }),
    });
    expect(table.toString()).toBe(
      "<table><tr><th>a&lt;</th><td>1</td></tr><tr><th>b</th><td>2</td></tr></table>",
    );
  });

  test("dangerouslySetInnerHTML goes in as it is (the page's own style and script only)", () => {
    const style = jsx("style", { nonce: "n1", dangerouslySetInnerHTML: { __html: "a>b{color:red}" } });
    expect(style.toString()).toBe(`<style nonce="n1">a>b{color:red}</style>`);
    expect(new Html("<br/>").toString()).toBe("<br/>");
  });
});
