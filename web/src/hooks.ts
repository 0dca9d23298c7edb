/** Loading data for a page: the value, an error in words, and a way to load again. */
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { messageOf, request } from './api';
import type { IndicatorInfo } from './words';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  reload: () => void;
}

export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then((d) => { if (live) { setData(d); setError(null); } }, (e) => { if (live) setError(messageOf(e)); });
    return () => { live = false; };
  }, [...deps, tick]);
  return { data, error, reload: useCallback(() => setTick((t) => t + 1), []) };
}

/** The public catalogue (GET /catalogue): indicator names, display names, units, ranges. */
export function useCatalogue(): Map<string, IndicatorInfo> {
  const { data } = useLoad(() => request<{ indicators: IndicatorInfo[] }>('/catalogue', { token: null }));
  return useMemo(() => new Map((data?.indicators ?? []).map((i) => [i.name, i])), [data]);
}
