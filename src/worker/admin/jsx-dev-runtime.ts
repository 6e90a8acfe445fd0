/** The page's JSX runtime under a development transform (vite's, in the tests): the same one. @module */
export { Fragment, type JSX, jsxDEV } from "./jsx-runtime.ts";
