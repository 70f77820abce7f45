/** Online / away / offline (`PUT /v1/me/presence`); routing only sends work to "online". */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { api, unwrap } from "../api/client";
import { SESSION_KEY, type Session } from "./session";

const PRESENCES = ["online", "away", "offline"] as const;
type Presence = (typeof PRESENCES)[number];

export function PresenceSwitch({ current }: { current: Presence }) {
  const { t } = useTranslation("app");
  const client = useQueryClient();
  const change = useMutation({
    mutationFn: (presence: Presence) =>
      unwrap(api.PUT("/v1/me/presence", { body: { presence } })),
    onSuccess: (_data, presence) =>
      client.setQueryData<Session | null>(SESSION_KEY, (old) => (old ? { ...old, presence } : old)),
  });
  return (
    <fieldset className="presence">
      <legend>{t("presence.label")}</legend>
      {PRESENCES.map((presence) => (
        <label key={presence} className={`presence-${presence}`}>
          <input
            type="radio"
            name="presence"
            value={presence}
            checked={(change.isPending ? change.variables : current) === presence}
            onChange={() => change.mutate(presence)}
          />
          {t(`presence.${presence}`)}
        </label>
      ))}
      {change.isError && (
        <span className="field-error" role="alert">
          {(change.error as Error).message}
        </span>
      )}
    </fieldset>
  );
}
