import { lazy } from "react";
import type { FeatureDefinition } from "../../app/feature";

export const feature: FeatureDefinition = {
  path: "faq",
  access: "faq",
  order: 90,
  navLabel: "nav",
  element: lazy(() => import("./FaqScreen")),
};
