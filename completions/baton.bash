# bash completion for baton(1)
_baton() {
  local cur prev verbs ops flags
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD-1]}
  verbs="validate plan graph check switchover failover drill reverse-sync resume status history report adopt"
  ops="switchover failover drill reverse-sync"
  flags="--yes --json --color --state-dir --known-hosts --accept-new-host-keys --accept-data-loss
    --accept-split-brain --connection-attempts --help --version"
  case $prev in
    --state-dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --known-hosts) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --color) COMPREPLY=($(compgen -W "auto always never" -- "$cur")); return ;;
    --source|--run|--connection-attempts) return ;;
  esac
  # The verb: the first word that is not a flag.
  local i verb="" nargs=0
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --state-dir|--known-hosts|--color|--source|--run|--connection-attempts) ((i++)) ;;
      -*) ;;
      *) if [[ -z $verb ]]; then verb=${COMP_WORDS[i]}; else ((nargs++)); fi ;;
    esac
  done
  if [[ $cur == -* ]]; then
    case $verb in
      resume) flags="$flags --run --force --rollback --abort" ;;
      status) flags="$flags --offline" ;;
      report) flags="$flags --html" ;;
      adopt) flags="$flags --source" ;;
    esac
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [[ -z $verb ]]; then
    COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
  elif [[ $nargs -eq 0 ]]; then
    COMPREPLY=($(compgen -f -X '!*.toml' -- "$cur") $(compgen -d -- "$cur"))
  elif [[ $nargs -eq 1 && ($verb == plan || $verb == graph) ]]; then
    COMPREPLY=($(compgen -W "$ops" -- "$cur"))
  fi
}
complete -o filenames -F _baton baton
