/**
 * Chatbot settings (Administrator, Bot plan): which chatbot answers first on which channel
 * (platforms `webhook` and `rasa`). Without the Bot plan the screen says the plan does not
 * include it (the session's functions lack `chatbot`; the API would answer `plan_required`).
 */
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { api, unwrap } from "../../api/client";
import { Failed, Field, FormError, Loading } from "../../components";
import { may, useSession } from "../../app/session";
import { useChannels } from "../history/lookups";
import { Refusal, refusal } from "../history/ui";
import { formErrors, NO_ERRORS } from "../history/errors";

export function Chatbots() {
  const { t } = useTranslation("administration");
  const { data: session } = useSession();
  const allowed = may(session, "chatbot");
  const client = useQueryClient();
  const bots = useQuery({ queryKey: ["chatbots"], queryFn: () => unwrap(api.GET("/v1/chatbots")), enabled: allowed, retry: false });
  const channels = useChannels();
  const [channelId, setChannelId] = useState("");
  const [platform, setPlatform] = useState<"webhook" | "rasa">("webhook");
  const [url, setUrl] = useState("");
  const [token, setToken] = useState("");
  const save = useMutation({
    mutationFn: () =>
      unwrap(
        api.PUT("/v1/chatbots/{channel_id}", {
          params: { path: { channel_id: channelId } },
          body: { platform, url, token: token || null },
        }),
      ),
    onSuccess: () => {
      setToken("");
      void client.invalidateQueries({ queryKey: ["chatbots"] });
    },
  });
  const remove = useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/v1/chatbots/{channel_id}", { params: { path: { channel_id: id } } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["chatbots"] }),
  });
  const { fields, form } = save.error ? formErrors(save.error) : NO_ERRORS;
  if (!allowed) {
    return (
      <section aria-labelledby="chatbots-title">
        <h2 id="chatbots-title">{t("chatbots.title")}</h2>
        <p className="refusal" role="alert">
          {t("planRequired", { ns: "history", plans: "bot", message: "" })}
        </p>
      </section>
    );
  }
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  return (
    <section aria-labelledby="chatbots-title">
      <h2 id="chatbots-title">{t("chatbots.title")}</h2>
      {bots.isPending ? (
        <Loading />
      ) : bots.error ? (
        refusal(bots.error, t) ? <Refusal error={bots.error} /> : <Failed error={bots.error} />
      ) : (
        <table className="data">
          <caption>{t("chatbots.connected", { count: bots.data.length })}</caption>
          <thead>
            <tr>
              <th scope="col">{t("chatbots.channel")}</th>
              <th scope="col">{t("chatbots.platform")}</th>
              <th scope="col">{t("chatbots.url")}</th>
              <th scope="col">{t("actions")}</th>
            </tr>
          </thead>
          <tbody>
            {bots.data.map((bot) => (
              <tr key={bot.channel_id}>
                <td>{bot.channel_name}</td>
                <td>{bot.platform}</td>
                <td>{bot.url}</td>
                <td>
                  <button
                    type="button"
                    className="danger"
                    aria-label={t("chatbots.removeOne", { name: bot.channel_name })}
                    onClick={() => remove.mutate(bot.channel_id)}
                  >
                    {t("chatbots.remove")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="panel" onSubmit={submit} aria-labelledby="chatbot-form-title" noValidate>
        <h3 id="chatbot-form-title">{t("chatbots.connect")}</h3>
        <div className="filters">
          <Field label={t("chatbots.channel")} error={fields.channel_id}>
            <select value={channelId} onChange={(e) => setChannelId(e.target.value)}>
              <option value="">{t("chatbots.chooseChannel")}</option>
              {(channels.data ?? []).map((channel) => (
                <option key={channel.channel_id} value={channel.channel_id}>
                  {channel.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label={t("chatbots.platform")} error={fields.platform}>
            <select value={platform} onChange={(e) => setPlatform(e.target.value as "webhook" | "rasa")}>
              <option value="webhook">Webhook</option>
              <option value="rasa">Rasa</option>
            </select>
          </Field>
          <Field label={t("chatbots.url")} error={fields.url}>
            <input type="url" value={url} onChange={(e) => setUrl(e.target.value)} />
          </Field>
          <Field label={t("chatbots.token")} error={fields.token}>
            <input type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} />
          </Field>
        </div>
        {refusal(save.error, t) ? <Refusal error={save.error} /> : <FormError message={form} />}
        <button type="submit" disabled={save.isPending || !channelId}>
          {t("save")}
        </button>
      </form>
      <FormError message={remove.error?.message} />
    </section>
  );
}
