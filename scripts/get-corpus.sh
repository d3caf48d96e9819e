#!/usr/bin/env bash
# Builds the public-domain benchmark corpus in corpus-data/ (ignored by git):
#
#   corpus-data/text/MODULE/NNNN-PART.txt  plain UTF-8 text, one file (= one document) per book
#                                          of a Bible, chapter of a commentary, letter of a dictionary
#   corpus-data/corpus/                    `bytelm prepare` of corpus-data/text
#
# Source: SWORD modules packaged by Debian, all marked public domain in their copyright files:
#   sword-text-web            World English Bible (engWEB2015eb)
#   sword-text-sparv          Reina-Valera 1909, Spanish (spaRV1909eb)
#   sword-comm-tdavid         C. H. Spurgeon, The Treasury of David
#   sword-comm-mhcc           Matthew Henry's Concise Commentary
#   sword-comm-scofield       Scofield Reference Notes (1917)
#   sword-dict-naves          Nave's Topical Bible
#   sword-dict-strongs-greek  Strong's Greek dictionary
#   sword-dict-strongs-hebrew Strong's Hebrew dictionary
# Not used: dict-gcide (GPL, not public domain) and sword-text-kjv (under Crown patent in the UK).
#
# Modules are exported with mod2imp (libsword-utils) and their OSIS markup is reduced to text
# here; bytes that are not valid UTF-8 are counted and reported, then replaced by U+FFFD.
# Idempotent: packages are installed only when missing, and the corpus is prepared again only
# when the extracted text changed.
#
# usage: scripts/get-corpus.sh [--sample FILE]
#   --sample FILE  also write the small sample (Genesis and Exodus of the WEB) to FILE
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=corpus-data
BYTELM=${BYTELM:-bin/bytelm}
SAMPLE=
while [ $# -gt 0 ]; do
    case "$1" in
    --sample) SAMPLE=${2:?--sample needs a file}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "get-corpus.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

PACKAGES="sword-text-web sword-text-sparv sword-comm-tdavid sword-comm-mhcc sword-comm-scofield
          sword-dict-naves sword-dict-strongs-greek sword-dict-strongs-hebrew libsword-utils python3"
MODULES="engWEB2015eb spaRV1909eb TDavid MHCC Scofield Nave StrongsGreek StrongsHebrew"

missing=
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "get-corpus: installing$missing" >&2
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
fi

# A private SWORD_PATH that mirrors the system one, with one repair: Debian's MHCC declares
# ModDrv=zCom4 (12-byte index records) but its index holds 10-byte zCom records, so libsword
# reads garbage. A module whose .?zv index is not a multiple of 12 bytes is given zCom.
SWORD=$(mktemp -d)
trap 'rm -rf "$SWORD"' EXIT
mkdir -p "$SWORD/mods.d"
ln -s /usr/share/sword/modules "$SWORD/modules"
for conf in /usr/share/sword/mods.d/*.conf; do
    name=$(basename "$conf")
    cp "$conf" "$SWORD/mods.d/$name"
    if grep -q '^ModDrv=zCom4' "$conf"; then
        dir=/usr/share/sword/$(sed -n 's/^DataPath=\.\/\{0,1\}//p' "$conf")
        for idx in "$dir"/*.?zv; do
            [ -s "$idx" ] || continue
            if [ $(( $(stat -c %s "$idx") % 12 )) -ne 0 ]; then
                sed -i 's/^ModDrv=zCom4/ModDrv=zCom/' "$SWORD/mods.d/$name"
                echo "get-corpus: $name: index records are 10 bytes, reading it as zCom" >&2
                break
            fi
        done
    fi
done

mkdir -p "$OUT"
rm -rf "$OUT/text.new"
mkdir -p "$OUT/text.new"
for m in $MODULES; do
    SWORD_PATH=$SWORD mod2imp "$m" 2>"$OUT/text.new/.$m.log" >"$OUT/text.new/.$m.imp"
    [ -s "$OUT/text.new/.$m.imp" ] || { echo "get-corpus: mod2imp $m produced nothing" >&2; exit 1; }
done

# OSIS -> text. Each entry ($$$KEY then its markup) becomes "KEY text" (Bible verses, one per
# line) or "KEY", its paragraphs and a blank line (commentaries, dictionaries).
python3 - "$OUT/text.new" $MODULES <<'EOF'
import html, re, sys, os
out, modules = sys.argv[1], sys.argv[2:]
VERSE = re.compile(r'^(.+?) (\d+):(\d+)$')
NOTE = re.compile(r'<note\b[^>]*>.*?</note>', re.S)
BLOCK = re.compile(r'<(?:/?(?:div|p|title|item|list|row|table|lg|l|entryFree|def)\b[^>]*|lb\b[^>]*)>')
TAG = re.compile(r'<[^>]*>')
SPACE_BEFORE_PUNCT = re.compile(r' +([,.;:!?)\]’”])')
total_bad = 0
for m in modules:
    raw = open(os.path.join(out, '.' + m + '.imp'), 'rb').read()
    entries = raw.split(b'\n$$$')
    bad = 0
    docs, order = {}, []
    bible = m in ('engWEB2015eb', 'spaRV1909eb')
    for ent in entries:
        ent = ent[3:] if ent.startswith(b'$$$') else ent
        key, _, body = ent.partition(b'\n')
        try:
            body = body.decode('utf-8')
        except UnicodeDecodeError:
            fixed = body.decode('utf-8', errors='replace')
            bad += fixed.count('\ufffd') - body.count('\ufffd'.encode())
            body = fixed
        key = key.decode('utf-8', errors='replace').strip()
        text = NOTE.sub(' ', body)
        text = BLOCK.sub('\n', text)
        text = html.unescape(TAG.sub('', text))
        lines = [SPACE_BEFORE_PUNCT.sub(r'\1', ' '.join(l.split())) for l in text.split('\n')]
        lines = [l for l in lines if l]
        if not lines:
            continue
        v = VERSE.match(key)
        if v:
            # a Bible book is one document; a commentary, one document per chapter
            part = v.group(1) if bible else '%s %s' % (v.group(1), v.group(2))
            label = key if v.group(3) != '0' else ''
        elif key.startswith('['):
            part, label = 'intro', ''
        else:
            part = key[:2] if key[:1].isdigit() else key[:1].upper()
            label = key
        if part not in docs:
            docs[part] = []
            order.append(part)
        if bible:
            docs[part].append((label + ' ' if label else '') + ' '.join(lines) + '\n')
        else:
            docs[part].append((label + '\n' if label else '') + '\n'.join(lines) + '\n\n')
    os.makedirs(os.path.join(out, m), exist_ok=True)
    size = 0
    for i, part in enumerate(order):
        name = '%04d-%s.txt' % (i, re.sub(r'[^A-Za-z0-9]+', '_', part).strip('_') or 'x')
        data = ''.join(docs[part]).encode('utf-8')
        size += len(data)
        with open(os.path.join(out, m, name), 'wb') as f:
            f.write(data)
    total_bad += bad
    print('get-corpus: %-14s %10d bytes in %4d documents, %d invalid UTF-8 bytes replaced'
          % (m, size, len(order), bad), file=sys.stderr)
print('get-corpus: invalid UTF-8 bytes in all modules: %d' % total_bad, file=sys.stderr)
EOF
rm -f "$OUT"/text.new/.*.imp "$OUT"/text.new/.*.log

if [ -n "$SAMPLE" ]; then
    cat "$OUT"/text.new/engWEB2015eb/*-Genesis.txt "$OUT"/text.new/engWEB2015eb/*-Exodus.txt >"$SAMPLE"
    echo "get-corpus: sample: $(stat -c %s "$SAMPLE") bytes in $SAMPLE" >&2
fi

# Replace the text only if it changed, and prepare only then (or when the corpus is missing).
sum_of() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-64; }
new=$(sum_of "$OUT/text.new")
old=$( [ -d "$OUT/text" ] && sum_of "$OUT/text" || echo none)
if [ "$new" != "$old" ]; then
    rm -rf "$OUT/text"
    mv "$OUT/text.new" "$OUT/text"
else
    rm -rf "$OUT/text.new"
fi
if [ "$new" != "$old" ] || [ ! -f "$OUT/corpus/corpus.json" ]; then
    [ -x "$BYTELM" ] || make -s "$BYTELM"
    "$BYTELM" prepare "$OUT/text" -o "$OUT/corpus"
else
    echo "get-corpus: $OUT/corpus is up to date" >&2
fi
python3 - "$OUT/corpus/corpus.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
t, v = c['train'], c['val']
disk = sum(s['file_bytes'] for s in t['shards'] + v['shards'])
print('corpus: %d documents, %d bytes (train %d in %d documents, val %d in %d documents), '
      '%d bytes on disk (%.2fx)' % (c['documents'], c['bytes'], t['bytes'], t['documents'], v['bytes'],
                                    v['documents'], disk, c['bytes'] / disk))
EOF
