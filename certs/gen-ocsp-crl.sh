#!/usr/bin/env bash
# Regenerate the OCSP responses (certs/ocsp/) and CRLs (certs/crl/) of the
# ossl-handshake TEST PKI from the CA and intermediate keys that certs/gen.sh
# made. Run it again after certs/gen.sh (the responses name serial numbers).
#
#   bash certs/gen-ocsp-crl.sh
#
# Writes:
#   crl/revoked-server.pem/.key  a localhost server (chain with the intermediate)
#                                that the intermediate has revoked
#   crl/intermediate.crl.pem     the intermediate's CRL: revokes revoked-server
#   crl/ca.crl.pem               the root's CRL: revokes nothing (CRL_CHECK_ALL)
#   ocsp/good.der                server-ecdsa: good, valid for 100 years
#   ocsp/revoked.der             revoked-server: revoked
#   ocsp/expired.der             server-ecdsa: good, but nextUpdate has passed
#                                (the validity window is one minute, and this
#                                script waits it out)
# Every response is signed by the intermediate (the issuer of both leaves:
# RFC 6960 4.2.2.2 lets the issuing CA sign directly) and carries no nonce.
# Test material only: never use these keys for anything else.
set -euo pipefail

OPENSSL="${OPENSSL:-openssl}"
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CNF="$DIR/openssl.cnf"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
O="/O=ossl-handshake tests"
ICA=(-cert "$DIR/intermediate.pem" -keyfile "$DIR/intermediate.key")
RCA=(-cert "$DIR/ca.pem" -keyfile "$DIR/ca.key")

db() {  # db <name>: an empty `openssl ca` database and its config in $TMP/<name>
    mkdir -p "$TMP/$1/new"
    : > "$TMP/$1/index.txt"
    echo 1000 > "$TMP/$1/crlnumber"
    cat > "$TMP/$1/ca.cnf" <<CNF
[ ca ]
default_ca = test_ca
[ test_ca ]
dir             = $TMP/$1
database        = \$dir/index.txt
new_certs_dir   = \$dir/new
crlnumber       = \$dir/crlnumber
rand_serial     = yes
default_md      = sha256
default_crl_days = 36500
policy          = policy_any
unique_subject  = no
copy_extensions = none
preserve        = yes
[ policy_any ]
commonName       = supplied
organizationName = optional
[ crl_ext ]
authorityKeyIdentifier = keyid:always
CNF
}

db int
db root

# The revoked server: issued by the intermediate, then revoked by it.
"$OPENSSL" genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -pkeyopt ec_param_enc:named_curve -out "$DIR/crl/revoked-server.key"
chmod 0644 "$DIR/crl/revoked-server.key"
"$OPENSSL" req -new -config "$CNF" -key "$DIR/crl/revoked-server.key" \
    -subj "/CN=localhost$O" -out "$TMP/revoked.csr"
"$OPENSSL" ca -batch -notext -config "$TMP/int/ca.cnf" "${ICA[@]}" \
    -extfile "$CNF" -extensions v3_server -startdate 20200101000000Z -enddate 21250101000000Z \
    -in "$TMP/revoked.csr" -out "$TMP/revoked.crt" 2> "$TMP/ca.log" || { cat "$TMP/ca.log" >&2; exit 1; }
cat "$TMP/revoked.crt" "$DIR/intermediate.pem" > "$DIR/crl/revoked-server.pem"
"$OPENSSL" ca -batch -config "$TMP/int/ca.cnf" "${ICA[@]}" -revoke "$TMP/revoked.crt" \
    -crl_reason keyCompromise 2> "$TMP/ca.log" || { cat "$TMP/ca.log" >&2; exit 1; }

# The good server: server-ecdsa, entered as valid in the intermediate's database.
"$OPENSSL" x509 -in "$DIR/server-ecdsa.pem" -out "$TMP/good.crt"
serial="$("$OPENSSL" x509 -in "$TMP/good.crt" -noout -serial | cut -d= -f2)"
subject="$("$OPENSSL" x509 -in "$TMP/good.crt" -noout -subject -nameopt compat | sed 's/^subject=//')"
printf 'V\t21250101000000Z\t\t%s\tunknown\t%s\n' "$serial" "$subject" >> "$TMP/int/index.txt"

"$OPENSSL" ca -batch -gencrl -config "$TMP/int/ca.cnf" "${ICA[@]}" -crlexts crl_ext \
    -out "$DIR/crl/intermediate.crl.pem" 2> "$TMP/ca.log" || { cat "$TMP/ca.log" >&2; exit 1; }
"$OPENSSL" ca -batch -gencrl -config "$TMP/root/ca.cnf" "${RCA[@]}" -crlexts crl_ext \
    -out "$DIR/crl/ca.crl.pem" 2> "$TMP/ca.log" || { cat "$TMP/ca.log" >&2; exit 1; }

# respond <leaf> <out.der> <validity options...>
respond() {
    local leaf="$1" out="$2"; shift 2
    "$OPENSSL" ocsp -no_nonce -issuer "$DIR/intermediate.pem" -cert "$leaf" -reqout "$TMP/req.der"
    "$OPENSSL" ocsp -index "$TMP/int/index.txt" -CA "$DIR/intermediate.pem" \
        -rsigner "$DIR/intermediate.pem" -rkey "$DIR/intermediate.key" \
        -reqin "$TMP/req.der" -respout "$out" "$@" > /dev/null
}
respond "$TMP/good.crt" "$DIR/ocsp/good.der" -ndays 36500
respond "$TMP/revoked.crt" "$DIR/ocsp/revoked.der" -ndays 36500
respond "$TMP/good.crt" "$DIR/ocsp/expired.der" -nmin 1
sleep 61  # expired.der: let its one-minute window pass before anyone uses it
