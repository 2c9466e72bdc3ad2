# Summarises pgbench per-transaction logs of the "split under load" point
# of scripts/bench.sh.  Input: one line per committed transaction, "END_US
# LATENCY_US" (end of the transaction in Unix microseconds, its latency),
# sorted by END_US, every client merged.  Variables (Unix microseconds):
#   t0        when pgbench was started
#   r0, r1    update_shard_count began / returned
#   s0, s1    split_shard began / returned
#   batch     records per transaction
# Prints one line: transactions, rows/s before (from t0 + 1 s to r0),
# during (r0 to s1) and after (s1 to the last completion), the longest gap
# between consecutive completions (ms) and where it ended (s after t0),
# the longest such gap overlapping a resharding call (ms), and the longest
# transaction latency (ms).
{
	end = $1 + 0
	lat = $2 + 0
	n++
	if (n > 1 && end - prev > gap) {
		gap = end - prev
		gap_end = end
	}
	if (n > 1 && end - prev > rgap && ((prev < r1 && end > r0) || (prev < s1 && end > s0)))
		rgap = end - prev
	prev = end
	if (lat > maxlat)
		maxlat = lat
	if (end >= t0 + 1000000 && end < r0)
		before++
	else if (end >= r0 && end <= s1)
		during++
	else if (end > s1)
		after++
	last = end
}
END {
	rate_before = (r0 > t0 + 1000000) ? before * batch / ((r0 - t0 - 1000000) / 1e6) : 0
	rate_during = (s1 > r0) ? during * batch / ((s1 - r0) / 1e6) : 0
	rate_after = (last > s1) ? after * batch / ((last - s1) / 1e6) : 0
	printf "%d %.0f %.0f %.0f %.0f %.1f %.0f %.0f\n", n, rate_before, rate_during, rate_after,
		gap / 1000, (gap_end - t0) / 1e6, rgap / 1000, maxlat / 1000
}
