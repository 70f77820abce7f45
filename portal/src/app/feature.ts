/**
 * How a feature joins the Portal, without anyone editing the shell.
 *
 * Each folder `src/features/<name>/` that has a `feature.ts` exporting `feature` is found by
 * `registry.ts` (Vite's `import.meta.glob`), gets a route at `/<path>/*` and, when `nav` is not
 * false, an entry in the navigation. The entry shows only when the session's `functions`
 * (computed by the server from `shared/access.py`: role and plan) include `access`; the route
 * answers "not allowed" otherwise. Its texts come from `src/features/<name>/i18n.ts` (namespace
 * `<name>`). Screens are lazy so the first load stays small.
 */
import type { ComponentType, LazyExoticComponent } from "react";

export interface FeatureDefinition {
  /** Route below `/`, e.g. `"inbox"`; the feature gets `/<path>/*`. */
  path: string;
  /** A function name of `shared/access.py` (`ACCESS` or `PLAN_FUNCTIONS`), e.g. `"conversations"`. */
  access: string;
  /** Place in the navigation: lower first. */
  order: number;
  /** i18n key, in the feature's own namespace, of the navigation label. */
  navLabel: string;
  /** The feature's screen, `lazy(() => import("./Screen"))`. */
  element: LazyExoticComponent<ComponentType>;
  /** `false`: routed but not in the navigation. */
  nav?: boolean;
}

/** A feature's `i18n.ts` default export: its texts in the three languages. */
export type FeatureMessages = Record<Language, Record<string, unknown>>;

export const LANGUAGES = ["nl", "fr", "en"] as const;
export type Language = (typeof LANGUAGES)[number];
