#!/usr/bin/env bash
# spam-accuracy.sh - how well tjstore's Bayes classifier sorts the shared
# corpus, beside bogofilter trained and tested on the same split.  Not a
# test: run by hand (about a minute on the 2-core machine).
#
#   bench/spam-accuracy.sh
#
# Environment: TJ_CORPUS (the corpus tarball, default
# ../shared/corpus/spamassassin-public-1.tar.zst), BUILD (build dir, default
# build-bayes-rel), THRESHOLD (tjstore's Bayes-only spam verdict, default 0.9),
# KEEP=1 (keep the temp dir).
#
# The 3,250 messages are sorted by path (ham/ before spam/) and numbered
# from 0; message i is in fold i mod 5.  Held-out split: train on folds 1-4,
# test fold 0 (the parameters were tuned on folds 1-4 only, by cross
# validation inside them, with fold 0 never looked at).  Then 5-fold cross
# validation over all folds.  For each fold both classifiers start empty,
# learn the training folds and classify the test fold:
#   tjstore:    bench/spam-accuracy (tj_bayes_learn_batch, tj_bayes_classify);
#               spam when P(spam) >= THRESHOLD;
#   bogofilter: bogofilter -d DIR -n/-s -B (train), -T -B (classify), with
#               Debian's default configuration; spam when it says S, Unsure
#               counts as not spam (and is reported).
# With node/scan/spam.c in the tree, the combined verdict (tj_spam_check at
# 5.0: the rules plus the BAYES_xx pseudo-rules) is reported too, with no
# rules, with tjstore's default rules (node/scan/rules/tjstore.cf) and with
# SpamAssassin's stock rules (/usr/share/spamassassin) when installed.
# Writes bench/results/spam-accuracy.md and .json.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
corpus_tar=${TJ_CORPUS:-$top/../shared/corpus/spamassassin-public-1.tar.zst}
build=${BUILD:-build-bayes-rel}
threshold=${THRESHOLD:-0.9}
command -v bogofilter >/dev/null || { echo "spam-accuracy.sh: bogofilter is not installed (apt-get install bogofilter)" >&2; exit 2; }
[ -f "$corpus_tar" ] || { echo "spam-accuracy.sh: no corpus at $corpus_tar (set TJ_CORPUS)" >&2; exit 2; }

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTJ_SANITIZE=OFF -DTJ_FUZZ=OFF >/dev/null
cmake --build "$build" -j2 --target spam-accuracy >/dev/null ||
	{ echo "spam-accuracy.sh: build failed (cmake --build $build --target spam-accuracy)" >&2; exit 1; }
drv=$top/$build/bench/spam-accuracy

work=$(mktemp -d /tmp/spam-accuracy.XXXXXX)
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi; }
trap cleanup EXIT
mkdir "$work/corpus"
zstd -dc "$corpus_tar" | tar xf - -C "$work/corpus"
# the driver's order: ham/ then spam/, names in byte order
(cd "$work/corpus" && { LC_ALL=C ls ham | sed 's|^|ham/|'; LC_ALL=C ls spam | sed 's|^|spam/|'; }) >"$work/list"

echo "tjstore: 5 folds, timing ..." >&2
"$drv" --test-folds 01234 --threshold "$threshold" --timing --probs "$work/tj-probs.txt" "$work/corpus" >"$work/tj.json"
: >"$work/tj-rules.json"
if "$drv" --rules "$top/node/scan/rules/tjstore.cf" --tokens /dev/null >/dev/null 2>&1; then
	for rules in "$top/node/scan/rules/tjstore.cf" /usr/share/spamassassin; do
		[ -e "$rules" ] || continue
		echo "tjstore: 5 folds, combined verdict with $rules ..." >&2
		"$drv" --test-folds 01234 --threshold "$threshold" --rules "$rules" "$work/corpus" |
			sed "s|^{|{\"rules\":\"$rules\",|" >>"$work/tj-rules.json"
	done
fi

echo "bogofilter: 5 folds ..." >&2
: >"$work/bf.txt"
bf_cpu=0
for f in 0 1 2 3 4; do
	d=$work/bf-$f
	mkdir "$d"
	awk -v f=$f '{ if ((NR - 1) % 5 != f) print }' "$work/list" >"$d/train"
	awk -v f=$f '{ if ((NR - 1) % 5 == f) print }' "$work/list" >"$d/test"
	# bogofilter exits 1 for ham and 2 for unsure: only >= 3 is an error
	(cd "$work/corpus" && grep '^ham/' "$d/train" | xargs bogofilter -d "$d" -n -B) || [ $? -lt 3 ]
	(cd "$work/corpus" && grep '^spam/' "$d/train" | xargs bogofilter -d "$d" -s -B) || [ $? -lt 3 ]
	# classify: CPU seconds of the bulk run, per message
	t=$( { cd "$work/corpus" && /usr/bin/time -f '%U %S' xargs bogofilter -d "$d" -T -B <"$d/test" >"$d/out" || true; } 2>&1 | tail -1)
	bf_cpu=$(echo "$bf_cpu $t" | awk '{print $1 + $2 + $3}')
	awk -v f=$f '{ split($1, a, "/"); print f, a[1], $2, $3, $1 }' "$d/out" >>"$work/bf.txt"
done

python3 - "$work" "$threshold" "$bf_cpu" "$top/bench/results/spam-accuracy.md" "$top/bench/results/spam-accuracy.json" <<'PY'
import json, sys, datetime, subprocess
work, thr, bf_cpu, md_path, json_path = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
tj = [json.loads(l) for l in open(f"{work}/tj.json")]
timing = next(x for x in tj if x.get("timing"))
folds = {x["fold"]: x for x in tj if "fold" in x}
rules = [json.loads(l) for l in open(f"{work}/tj-rules.json")]
tjp = [l.split() for l in open(f"{work}/tj-probs.txt")]   # fold class prob path ms
bf = [l.split() for l in open(f"{work}/bf.txt")]          # fold class verdict spamicity path

def rates(rows, is_spam, fold=None):
    rows = [r for r in rows if fold is None or r[0] == fold]
    ham = [r for r in rows if r[1] == "ham"]; spam = [r for r in rows if r[1] == "spam"]
    fp = sum(1 for r in ham if is_spam(r)); fn = sum(1 for r in spam if not is_spam(r))
    return {"ham": len(ham), "spam": len(spam), "fp": fp, "fn": fn,
            "fp_rate": fp / len(ham), "fn_rate": fn / len(spam)}

def unsure(rows, fold=None):
    rows = [r for r in rows if fold is None or r[0] == fold]
    return {"ham": sum(1 for r in rows if r[1] == "ham" and r[2] == "U"),
            "spam": sum(1 for r in rows if r[1] == "spam" and r[2] == "U")}

res = {"date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"), "threshold": thr,
       "corpus": "spamassassin-public-1 (2,750 ham, 500 spam)", "splits": {}}
for name, fold in (("held_out", "0"), ("cv5", None)):
    res["splits"][name] = {
        "tjstore": rates(tjp, lambda r: float(r[2]) >= thr, fold),
        "bogofilter": dict(rates(bf, lambda r: r[2] == "S", fold), unsure=unsure(bf, fold)),
        "sweep": {str(t): {"tjstore": rates(tjp, lambda r, t=t: float(r[2]) >= t, fold),
                           "bogofilter": rates(bf, lambda r, t=t: float(r[3]) >= t, fold)}
                  for t in (0.5, 0.9, 0.99)},
    }
    for r in rules:
        if (fold is None and r["fold"] == "total") or r["fold"] == fold:
            res["splits"][name].setdefault("combined", []).append(
                {"rules": r["rules"], "fp": r["rules_fp"], "fn": r["rules_fn"], "ham": r["ham"], "spam": r["spam"],
                 "norules_fp": r["norules_fp"], "norules_fn": r["norules_fn"]})
ntest = len(bf)
res["timing"] = {"tjstore_classify_ms_mean": timing["classify_ms_mean"], "tjstore_classify_ms_p50": timing["classify_ms_p50"],
                 "tjstore_classify_ms_p99": timing["classify_ms_p99"], "tjstore_tokenize_ms_mean": timing["tokenize_ms_mean"],
                 "tjstore_learn_ms_per_msg": timing["learn_ms_per_msg"], "avg_msg_bytes": timing["avg_msg_bytes"],
                 "bogofilter_classify_ms_mean": bf_cpu * 1e3 / ntest}
try:
    res["bogofilter_version"] = subprocess.run(["bogofilter", "-V"], capture_output=True, text=True).stdout.split("\n")[0].strip()
except Exception:
    pass
json.dump(res, open(json_path, "w"), indent=1)

def pct(x): return f"{100 * x:.2f}%"
def cell(r): return f"{r['fp']} / {r['ham']} = {pct(r['fp_rate'])}", f"{r['fn']} / {r['spam']} = {pct(r['fn_rate'])}"
out = [f"# Bayes accuracy: tjstore against bogofilter ({res['date'][:10]})", "",
       "`bench/spam-accuracy.sh`; corpus: the shared SpamAssassin public corpus (2,750 ham, 500 spam).",
       "Message i (in path order) is in fold i mod 5. Both classifiers start empty for each fold,",
       "learn the other folds, and classify it. tjstore's verdict: P(spam) >= " + f"{thr}" + " (docs/bayes.md explains",
       "the mapping); bogofilter's: S with Debian's default configuration (Unsure counts as not spam).",
       "Targets: false positives <= 0.5% of ham, false negatives <= 5% of spam.", ""]
for name, title in (("held_out", "Held-out split (train folds 1-4, test fold 0; tuning never saw fold 0)"),
                    ("cv5", "5-fold cross-validation (all 3,250 messages tested once)")):
    s = res["splits"][name]
    out += [f"## {title}", "", "| classifier | false positives (ham called spam) | false negatives (spam missed) |",
            "|---|---|---|"]
    a, b = cell(s["tjstore"]); out.append(f"| tjstore Bayes, p >= {thr} | {a} | {b} |")
    a, b = cell(s["bogofilter"]); u = s["bogofilter"]["unsure"]
    out.append(f"| bogofilter | {a} | {b} (of which Unsure: {u['spam']}; ham Unsure: {u['ham']}) |")
    for c in s.get("combined", []):
        rr = {"fp": c["fp"], "fn": c["fn"], "ham": c["ham"], "spam": c["spam"], "fp_rate": c["fp"] / c["ham"], "fn_rate": c["fn"] / c["spam"]}
        a, b = cell(rr)
        out.append(f"| tj_spam_check, rules `{c['rules'].split('/work/main/')[-1]}` + BAYES_xx, 5.0 | {a} | {b} |")
    if s.get("combined"):
        c = s["combined"][0]
        rr = {"fp": c["norules_fp"], "fn": c["norules_fn"], "ham": c["ham"], "spam": c["spam"],
              "fp_rate": c["norules_fp"] / c["ham"], "fn_rate": c["norules_fn"] / c["spam"]}
        a, b = cell(rr)
        out.append(f"| tj_spam_check(NULL rules) + BAYES_xx, 5.0 | {a} | {b} |")
    out += ["", "Same thresholds on both probabilities (bogofilter's spamicity, `-T`):", "",
            "| threshold | tjstore FP | tjstore FN | bogofilter FP | bogofilter FN |", "|---|---|---|---|---|"]
    for t, v in s["sweep"].items():
        a1, b1 = cell(v["tjstore"]); a2, b2 = cell(v["bogofilter"])
        out.append(f"| {t} | {a1} | {b1} | {a2} | {b2} |")
    out.append("")
t = res["timing"]
out += ["## Cost", "", "CPU time per message (median of 5 runs for each tjstore message; the machine is shared).", "",
        "| measure | tjstore | bogofilter |", "|---|---|---|",
        f"| classify, mean (average message {t['avg_msg_bytes']:,} bytes) | {t['tjstore_classify_ms_mean']:.3f} ms | {t['bogofilter_classify_ms_mean']:.3f} ms (bulk `-T -B`) |",
        f"| classify, median / p99 | {t['tjstore_classify_ms_p50']:.3f} / {t['tjstore_classify_ms_p99']:.3f} ms | |",
        f"| of which tokenizing, mean | {t['tjstore_tokenize_ms_mean']:.3f} ms | |",
        f"| learn (batches of 500 per transaction) | {t['tjstore_learn_ms_per_msg']:.3f} ms | |", ""]
open(md_path, "w").write("\n".join(out))
print("\n".join(out))
PY
