import { lazy } from "react";
import type { FeatureDefinition } from "../../app/feature";

export const feature: FeatureDefinition = {
  path: "dispatch",
  access: "dispatch",
  order: 20,
  navLabel: "nav",
  element: lazy(() => import("./DispatchScreen")),
};
