/**
 * General settings (routing on/off, the languages offered, default capacity) and office
 * hours (opening intervals per weekday, closing days, the time zone) of the tenant.
 */
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { api, unwrap } from "../../api/client";
import type { components } from "../../api/schema/conversation";
import { Failed, Field, FormError, Loading } from "../../components";
import { formErrors, NO_ERRORS } from "../history/errors";

type General = components["schemas"]["GeneralSettings"];
type OfficeHours = components["schemas"]["OfficeHours"];
/** The IANA zones this browser knows, offered as suggestions (the API checks the name). */
const ZONES: string[] = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] as const;

export function useGeneralSettings() {
  return useQuery({
    queryKey: ["settings", "general"],
    queryFn: () => unwrap(api.GET("/v1/settings/general")),
    staleTime: 30_000,
  });
}

export function GeneralSettings() {
  const settings = useGeneralSettings();
  if (settings.isPending) return <Loading />;
  if (settings.error) return <Failed error={settings.error} retry={() => void settings.refetch()} />;
  return <GeneralForm current={settings.data} />;
}

function GeneralForm({ current }: { current: General }) {
  const { t } = useTranslation("administration");
  const client = useQueryClient();
  const [routing, setRouting] = useState(current.routing_enabled);
  const [languages, setLanguages] = useState(current.languages.join(", "));
  const [capacity, setCapacity] = useState(String(current.default_capacity));
  const save = useMutation({
    mutationFn: () =>
      unwrap(
        api.PUT("/v1/settings/general", {
          body: {
            routing_enabled: routing,
            languages: languages
              .split(",")
              .map((language) => language.trim())
              .filter(Boolean),
            default_capacity: Number(capacity),
          },
        }),
      ),
    onSuccess: (data) => client.setQueryData(["settings", "general"], data),
  });
  const { fields, form } = save.error ? formErrors(save.error) : NO_ERRORS;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="general-title">
      <h2 id="general-title">{t("general.title")}</h2>
      <div className="field">
        <label>
          <input type="checkbox" checked={routing} onChange={(e) => setRouting(e.target.checked)} /> {t("general.routing")}
        </label>
        {fields.routing_enabled && (
          <p className="field-error" role="alert">
            {fields.routing_enabled}
          </p>
        )}
      </div>
      <Field label={t("general.languages")} hint={t("general.languagesHint")} error={fields.languages}>
        <input value={languages} onChange={(e) => setLanguages(e.target.value)} />
      </Field>
      <Field label={t("general.capacity")} error={fields.default_capacity}>
        <input type="number" min={1} value={capacity} onChange={(e) => setCapacity(e.target.value)} />
      </Field>
      <FormError message={form} />
      {save.isSuccess && (
        <p className="ok" role="status">
          {t("saved")}
        </p>
      )}
      <button type="submit" disabled={save.isPending}>
        {t("save")}
      </button>
    </form>
  );
}

export function OfficeHoursSettings() {
  const hours = useQuery({ queryKey: ["settings", "office-hours"], queryFn: () => unwrap(api.GET("/v1/settings/office-hours")) });
  if (hours.isPending) return <Loading />;
  if (hours.error) return <Failed error={hours.error} retry={() => void hours.refetch()} />;
  return <OfficeHoursForm current={hours.data} />;
}

interface DayDraft {
  open: boolean;
  start: string;
  end: string;
}
interface ClosingDraft {
  date: string;
  recurring_yearly: boolean;
  label: string;
}

function OfficeHoursForm({ current }: { current: OfficeHours }) {
  const { t } = useTranslation("administration");
  const client = useQueryClient();
  const [zone, setZone] = useState(current.time_zone);
  const [alwaysOpen, setAlwaysOpen] = useState(current.always_open);
  const [days, setDays] = useState<Record<string, DayDraft>>(() =>
    Object.fromEntries(
      WEEKDAYS.map((day) => {
        const first = current.weekly[day]?.[0];
        return [day, { open: !!first, start: first?.start.slice(0, 5) ?? "09:00", end: first?.end.slice(0, 5) ?? "17:00" }];
      }),
    ),
  );
  const [closing, setClosing] = useState<ClosingDraft[]>(
    current.closing_days.map((d) => ({ date: d.date, recurring_yearly: d.recurring_yearly, label: d.label ?? "" })),
  );
  const save = useMutation({
    mutationFn: () =>
      unwrap(
        api.PUT("/v1/settings/office-hours", {
          body: {
            time_zone: zone,
            always_open: alwaysOpen,
            weekly: alwaysOpen
              ? {}
              : Object.fromEntries(
                  WEEKDAYS.filter((day) => days[day].open).map((day) => [day, [{ start: days[day].start, end: days[day].end }]]),
                ),
            closing_days: alwaysOpen
              ? []
              : closing.map((d) => ({ date: d.date, recurring_yearly: d.recurring_yearly, label: d.label || null })),
          },
        }),
      ),
    onSuccess: (data) => client.setQueryData(["settings", "office-hours"], data),
  });
  const { fields, form } = save.error ? formErrors(save.error) : NO_ERRORS;
  const setDay = (day: string, change: Partial<DayDraft>) => setDays((all) => ({ ...all, [day]: { ...all[day], ...change } }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="hours-title">
      <h2 id="hours-title">{t("hours.title")}</h2>
      <Field label={t("hours.zone")} error={fields.time_zone}>
        <input list="office-hours-zones" value={zone} onChange={(e) => setZone(e.target.value)} />
      </Field>
      <datalist id="office-hours-zones">
        {ZONES.map((name) => (
          <option key={name} value={name} />
        ))}
      </datalist>
      <div className="field">
        <label>
          <input type="checkbox" checked={alwaysOpen} onChange={(e) => setAlwaysOpen(e.target.checked)} /> {t("hours.alwaysOpen")}
        </label>
      </div>
      {!alwaysOpen && (
        <>
          <table className="data">
            <caption>{t("hours.weekly")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("hours.day")}</th>
                <th scope="col">{t("hours.open")}</th>
                <th scope="col">{t("hours.from")}</th>
                <th scope="col">{t("hours.to")}</th>
              </tr>
            </thead>
            <tbody>
              {WEEKDAYS.map((day) => (
                <tr key={day}>
                  <th scope="row">{t(`weekdays.${day}`)}</th>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={t("hours.openOn", { day: t(`weekdays.${day}`) })}
                      checked={days[day].open}
                      onChange={(e) => setDay(day, { open: e.target.checked })}
                    />
                  </td>
                  <td>
                    <input
                      type="time"
                      aria-label={t("hours.fromOn", { day: t(`weekdays.${day}`) })}
                      value={days[day].start}
                      disabled={!days[day].open}
                      onChange={(e) => setDay(day, { start: e.target.value })}
                    />
                  </td>
                  <td>
                    <input
                      type="time"
                      aria-label={t("hours.toOn", { day: t(`weekdays.${day}`) })}
                      value={days[day].end}
                      disabled={!days[day].open}
                      onChange={(e) => setDay(day, { end: e.target.value })}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {fields.weekly && (
            <p className="field-error" role="alert">
              {fields.weekly}
            </p>
          )}
          <h3>{t("hours.closingDays")}</h3>
          {closing.map((day, i) => (
            <div key={i} className="toolbar">
              <Field label={t("hours.date")}>
                <input
                  type="date"
                  value={day.date}
                  onChange={(e) => setClosing((all) => all.map((d, j) => (j === i ? { ...d, date: e.target.value } : d)))}
                />
              </Field>
              <Field label={t("hours.label")}>
                <input
                  value={day.label}
                  onChange={(e) => setClosing((all) => all.map((d, j) => (j === i ? { ...d, label: e.target.value } : d)))}
                />
              </Field>
              <label>
                <input
                  type="checkbox"
                  checked={day.recurring_yearly}
                  onChange={(e) =>
                    setClosing((all) => all.map((d, j) => (j === i ? { ...d, recurring_yearly: e.target.checked } : d)))
                  }
                />{" "}
                {t("hours.yearly")}
              </label>
              <button type="button" className="secondary" onClick={() => setClosing((all) => all.filter((_, j) => j !== i))}>
                {t("hours.removeDay")}
              </button>
            </div>
          ))}
          {fields.closing_days && (
            <p className="field-error" role="alert">
              {fields.closing_days}
            </p>
          )}
          <button
            type="button"
            className="secondary"
            onClick={() => setClosing((all) => [...all, { date: "", recurring_yearly: false, label: "" }])}
          >
            {t("hours.addDay")}
          </button>
        </>
      )}
      <FormError message={form} />
      {save.isSuccess && (
        <p className="ok" role="status">
          {t("saved")}
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={save.isPending}>
          {t("save")}
        </button>
      </div>
    </form>
  );
}
