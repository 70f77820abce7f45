/** Every feature folder with a `feature.ts`, found at build time (see `feature.ts`). */
import type { FeatureDefinition, FeatureMessages } from "./feature";

const definitions = import.meta.glob<{ feature: FeatureDefinition }>("../features/*/feature.ts", {
  eager: true,
});
const messages = import.meta.glob<{ default: FeatureMessages }>("../features/*/i18n.ts", {
  eager: true,
});

function folder(path: string): string {
  return path.split("/")[2];
}

export interface RegisteredFeature extends FeatureDefinition {
  /** The folder name: also the feature's i18n namespace. */
  id: string;
}

export const features: RegisteredFeature[] = Object.entries(definitions)
  .map(([path, module]) => ({ ...module.feature, id: folder(path) }))
  .sort((a, b) => a.order - b.order);

export const featureMessages: Record<string, FeatureMessages> = Object.fromEntries(
  Object.entries(messages).map(([path, module]) => [folder(path), module.default]),
);
