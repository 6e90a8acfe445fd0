/**
 * The JSX runtime of the operator's page (`@jsxImportSource .` in its `.tsx` files): elements,
 * components and fragments rendered to an HTML string, text and attribute values escaped. It is
 * ours for a measured reason: hono/jsx brought about 5 KB gzipped to a Worker that has a 60 KB
 * budget, for features (hooks, streaming, context, the DOM) the page does not use.
 * @module
 */

/** Markup already rendered (and escaped): children of this type go into the page as they are. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** What may stand between tags: markup, text (escaped), numbers, nothing, or a list of these. */
export type Child = Html | string | number | boolean | null | undefined | readonly Child[];

/** A component: props in, markup out. */
export type FC<P = Record<string, never>> = (props: P & { children?: Child }) => Html;

/** Elements with no closing tag. */
const VOID_ELEMENTS = new Set([
  "area",
  "base",
  "br",
  "col",
  "hr",
  "img",
  "input",
  "link",
  "meta",
  "source",
  "wbr",
]);

const ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };

/** Text made safe for an element's content or a double-quoted attribute value. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (char) => ESCAPES[char]!);
}

function render(child: Child): string {
  if (child instanceof Html) return child.value;
  if (Array.isArray(child)) return child.map(render).join("");
  if (child === null || child === undefined || typeof child === "boolean") return "";
  return escapeHtml(String(child));
}

type Props = { children?: Child; dangerouslySetInnerHTML?: { __html: string }; [name: string]: unknown };

/**
 * Render one element or component (what the compiler calls for `<tag …>`). An attribute that is
 * `null`, `undefined` or `false` is left out, `true` is written bare, `key` is the compiler's.
 *
 * @example
 * ```ts
 * jsx("p", { class: "notice", children: "Saved <3" }).toString(); // <p class="notice">Saved &lt;3</p>
 * ```
 */
export function jsx<P extends object>(type: string | ((props: P) => Html), props: P): Html {
  if (typeof type === "function") return type(props);
  const { children, dangerouslySetInnerHTML, key: _key, ...attributes } = props as Props;
  let open = `<${type}`;
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    open += value === true ? ` ${name}` : ` ${name}="${escapeHtml(String(value))}"`;
  }
  if (VOID_ELEMENTS.has(type)) return new Html(`${open}/>`);
  return new Html(`${open}>${dangerouslySetInnerHTML?.__html ?? render(children)}</${type}>`);
}

/** `<>…</>`: its children, with no element around them. */
export function Fragment(props: { children?: Child }): Html {
  return new Html(render(props.children));
}

export { jsx as jsxDEV, jsx as jsxs };

/** The types the compiler checks JSX against. */
// The compiler looks the JSX types up in a namespace of this name, exported by the runtime.
export declare namespace JSX {
  type Element = Html;
  interface IntrinsicElements {
    [tag: string]: Props;
  }
  interface ElementChildrenAttribute {
    children: unknown;
  }
}
