#!/usr/bin/env bash
# Regenerate the ossl-handshake TEST PKI into the directory this script lives in.
#
#   bash certs/gen.sh            (from any working directory)
#   bash certs/gen.sh rsa-chain  (only the all-RSA chain: rsa-ca, rsa-intermediate,
#                                 server-rsa-chain; every other file stays as it is)
#
# Uses only the openssl CLI (OpenSSL >= 3.0). Every run regenerates every file.
# These certificates and keys are for tests only. Never use them for anything else.
set -euo pipefail

OPENSSL="${OPENSSL:-openssl}"
OUT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CNF="$OUT/openssl.cnf"
# Fixed validity window for every certificate except expired.pem. notBefore is in
# the past on purpose, so a machine whose clock is behind the generating machine's
# still accepts the certificates.
START=20200101000000Z
END=21250101000000Z

TMP="$(mktemp -d)"
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT

O="/O=ossl-handshake tests"

# Throw-away `openssl ca` database (removed on exit with $TMP).
mkdir -p "$TMP/newcerts"
: > "$TMP/index.txt"
cat > "$TMP/ca.cnf" <<CNF
[ ca ]
default_ca = test_ca

[ test_ca ]
dir             = $TMP
database        = \$dir/index.txt
new_certs_dir   = \$dir/newcerts
rand_serial     = yes
default_md      = sha256
policy          = policy_any
unique_subject  = no
copy_extensions = none
email_in_dn     = no
preserve        = yes

[ policy_any ]
commonName       = supplied
organizationName = optional
CNF

# --- helpers ---------------------------------------------------------------

# genkey <name> <ec|rsa|ed25519>: unencrypted PKCS#8 PEM private key <name>.key
genkey() {
    local name="$1" kind="$2"
    case "$kind" in
        ec) "$OPENSSL" genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
                -pkeyopt ec_param_enc:named_curve -out "$OUT/$name.key" ;;
        rsa) "$OPENSSL" genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
                -out "$OUT/$name.key" ;;
        ed25519) "$OPENSSL" genpkey -quiet -algorithm ED25519 -out "$OUT/$name.key" ;;
        *) echo "unknown key type $kind" >&2; exit 1 ;;
    esac
    chmod 0644 "$OUT/$name.key"   # test keys: readable by whoever runs the tests
}

# csr <name> <subject>: certificate request for <name>.key into $TMP/<name>.csr
csr() {
    "$OPENSSL" req -new -config "$CNF" -key "$OUT/$1.key" -subj "$2" -out "$TMP/$1.csr"
}

# sign <name> <issuer> <extensions-section> [startdate enddate]: <name>.csr signed
# by <issuer>.pem/.key into $TMP/<name>.crt with a random serial. <issuer> "self"
# makes a self-signed certificate with <name>.key. `openssl ca` is used (not
# `x509 -req`/`req -x509`) because OpenSSL 3.0 can only set explicit dates there.
sign() {
    local name="$1" issuer="$2" ext="$3" start="${4:-$START}" end="${5:-$END}"
    local who=(-cert "$OUT/$issuer.pem" -keyfile "$OUT/$issuer.key")
    [[ "$issuer" == self ]] && who=(-selfsign -keyfile "$OUT/$name.key")
    "$OPENSSL" ca -batch -notext -config "$TMP/ca.cnf" "${who[@]}" \
        -extfile "$CNF" -extensions "$ext" -startdate "$start" -enddate "$end" \
        -in "$TMP/$name.csr" -out "$TMP/$name.crt" 2> "$TMP/ca.log" \
        || { cat "$TMP/ca.log" >&2; exit 1; }
}

# root <name> <subject> [key-kind]: self-signed root CA <name>.pem and <name>.key
root() {
    genkey "$1" "${3:-ec}"
    csr "$1" "$2"
    sign "$1" self v3_root
    cp "$TMP/$1.crt" "$OUT/$1.pem"
}

# chain <name> [issuer...]: write <name>.pem = leaf followed by the given CA certs
chain() {
    local name="$1"; shift
    local files=("$TMP/$name.crt")
    local ca
    for ca in "$@"; do files+=("$OUT/$ca.pem"); done
    cat "${files[@]}" > "$OUT/$name.pem"
}

# leaf <name> <key-kind> <subject> <issuer> <extensions-section> [chain CA...]
leaf() {
    local name="$1" kind="$2" subj="$3" issuer="$4" ext="$5"; shift 5
    genkey "$name" "$kind"
    csr "$name" "$subj"
    sign "$name" "$issuer" "$ext"
    chain "$name" "$@"
}

# --- the all-RSA hierarchy ------------------------------------------------
# A separate RSA root and RSA intermediate: every signature in the chain is RSA,
# for peers that accept only RSA signatures on certificates (server-rsa.pem's
# leaf is RSA but its intermediate and root are ECDSA). Trust anchor: rsa-ca.pem.
rsa_chain() {
    root rsa-ca "/CN=ossl-handshake Test RSA Root CA$O" rsa
    genkey rsa-intermediate rsa
    csr rsa-intermediate "/CN=ossl-handshake Test RSA Intermediate CA$O"
    sign rsa-intermediate rsa-ca v3_intermediate
    cp "$TMP/rsa-intermediate.crt" "$OUT/rsa-intermediate.pem"
    leaf server-rsa-chain rsa "/CN=localhost$O" rsa-intermediate v3_server_rsa rsa-intermediate
}

# Remove what earlier runs may have left behind.
rm -f "$OUT"/*.srl "$OUT"/*.csr "$OUT"/*.crt

if [[ "${1:-}" == rsa-chain ]]; then
    rsa_chain
    echo "all-RSA chain regenerated in $OUT"
    exit 0
elif [[ -n "${1:-}" ]]; then
    echo "usage: bash certs/gen.sh [rsa-chain]" >&2
    exit 2
fi

# --- the trusted hierarchy -------------------------------------------------

root ca "/CN=ossl-handshake Test Root CA$O"

genkey intermediate ec
csr intermediate "/CN=ossl-handshake Test Intermediate CA$O"
sign intermediate ca v3_intermediate
cp "$TMP/intermediate.crt" "$OUT/intermediate.pem"

leaf server-ecdsa   ec      "/CN=localhost$O"      intermediate v3_server      intermediate
leaf server-rsa     rsa     "/CN=localhost$O"      intermediate v3_server_rsa  intermediate
leaf server-ed25519 ed25519 "/CN=localhost$O"      intermediate v3_server      intermediate
leaf sni-alt        ec      "/CN=alt.localhost$O"  intermediate v3_sni_alt     intermediate
leaf wrong-host     ec      "/CN=wrong.example$O"  intermediate v3_wrong_host  intermediate
leaf client         ec      "/CN=ossl-handshake test client$O" intermediate v3_client     intermediate
leaf client-rsa     rsa     "/CN=ossl-handshake test client$O" intermediate v3_client_rsa intermediate

rsa_chain

# --- the expired server certificate ----------------------------------------

genkey expired ec
csr expired "/CN=localhost$O"
sign expired intermediate v3_server 20200101000000Z 20201231235959Z
chain expired intermediate

# --- a separate root nobody trusts -----------------------------------------

root untrusted-ca "/CN=ossl-handshake Untrusted CA$O"
leaf untrusted-server ec "/CN=localhost$O" untrusted-ca v3_server
leaf untrusted-client ec "/CN=ossl-handshake test client$O" untrusted-ca v3_client

# --- bad inputs ------------------------------------------------------------

cat > "$OUT/not-a-cert.pem" <<'TXT'
This file is deliberately not a PEM certificate.
ossl-handshake tests load it to check how bad certificate input is reported.
TXT

genkey mismatched ec   # a valid P-256 key that matches no certificate

echo "test PKI regenerated in $OUT"
