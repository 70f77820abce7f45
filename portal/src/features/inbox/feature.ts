import { lazy } from "react";
import type { FeatureDefinition } from "../../app/feature";

export const feature: FeatureDefinition = {
  path: "inbox",
  access: "conversations",
  order: 10,
  navLabel: "nav",
  element: lazy(() => import("./InboxScreen")),
};
