/**
 * Names the filters and forms offer: topics, competences and colleagues (anyone who handles
 * conversations may read them), channels and the full user list (administration only: they
 * come back empty, not failed, for a role that may not list them; the screens then fall
 * back to free text or to what they have seen).
 */
import { useQuery } from "@tanstack/react-query";
import { ApiError, api, unwrap } from "../../api/client";

async function orEmpty<T>(call: () => Promise<T[]>): Promise<T[]> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return [];
    throw error;
  }
}

export function useTopics() {
  return useQuery({
    queryKey: ["lookup", "topics"],
    queryFn: () =>
      orEmpty(async () => (await unwrap(api.GET("/v1/topics", { params: { query: { limit: 200 } } }))).items),
    staleTime: 60_000,
  });
}

export function useCompetences() {
  return useQuery({
    queryKey: ["lookup", "competences"],
    queryFn: () =>
      orEmpty(async () => (await unwrap(api.GET("/v1/competences", { params: { query: { limit: 200 } } }))).items),
    staleTime: 60_000,
  });
}

export function useChannels() {
  return useQuery({
    queryKey: ["lookup", "channels"],
    queryFn: () => orEmpty(() => unwrap(api.GET("/v1/channels"))),
    staleTime: 60_000,
  });
}

export function usePeople() {
  return useQuery({
    queryKey: ["lookup", "people"],
    queryFn: () =>
      orEmpty(async () => (await unwrap(api.GET("/v1/users", { params: { query: { limit: 200, sort: "first_name" } } }))).items),
    staleTime: 30_000,
  });
}

/** Whom a conversation can go to: active people in a handling role (Admin, Manager, Agent). */
export function useColleagues() {
  return useQuery({
    queryKey: ["lookup", "colleagues"],
    queryFn: () => orEmpty(() => unwrap(api.GET("/v1/colleagues"))),
    staleTime: 30_000,
  });
}
