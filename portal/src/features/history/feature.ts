import { lazy } from "react";
import type { FeatureDefinition } from "../../app/feature";

export const feature: FeatureDefinition = {
  path: "history",
  access: "history",
  order: 30,
  navLabel: "nav",
  element: lazy(() => import("./HistoryScreen")),
};
