import { lazy } from "react";
import type { FeatureDefinition } from "../../app/feature";

export const feature: FeatureDefinition = {
  path: "statistics",
  access: "statistics",
  order: 40,
  navLabel: "nav",
  element: lazy(() => import("./StatisticsScreen")),
};
