import { lazy } from "react";
import type { FeatureDefinition } from "../../app/feature";

export const feature: FeatureDefinition = {
  path: "administration",
  access: "administration",
  order: 50,
  navLabel: "nav",
  element: lazy(() => import("./AdministrationScreen")),
};
