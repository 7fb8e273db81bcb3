#include "agents/kill_group.h"

namespace baton {

std::string kill_group_script(long pgid) {
  // dash's kill knows no "--": a negative pid after the signal names the
  // group. Killed members may stay zombies until their (re)parent reaps
  // them, and kill -0 counts zombies, so on Linux look in /proc instead.
  return "P=" + std::to_string(pgid) + R"(
me=
[ -r /proc/self/status ] && while read -r k a b; do [ "$k" = Uid: ] && me=$a && break; done </proc/self/status
alive() {
  if [ -r /proc/self/stat ]; then
    for f in /proc/[0-9]*/stat; do
      read -r s 2>/dev/null <"$f" || continue
      h=${s%')'*}
      set -- ${s#"$h) "}
      [ "$1" != Z ] && [ "$3" = "$P" ] && return 0
    done
    return 1
  fi
  { kill -0 -$P || kill -0 $P; } 2>/dev/null
}
# Other users' members (run_as): through sudo, as run_as got there.
others() {
  [ -n "$me" ] && [ "$me" != 0 ] || return 0
  sig=$1 u=
  for d in /proc/[0-9]*; do
    read -r s 2>/dev/null <"$d/stat" || continue
    h=${s%')'*}
    set -- ${s#"$h) "}
    [ "$1" != Z ] && [ "$3" = "$P" ] || continue
    o=
    while read -r k a b; do [ "$k" = Uid: ] && o=$a && break; done 2>/dev/null <"$d/status"
    case " $me 0 $u " in *" $o "*) ;; *) u="$u $o" ;; esac
  done
  for o in $u; do sudo -n -u "#$o" /bin/sh -c "kill -$sig -$P" >/dev/null 2>&1; done
}
stop() { kill -$1 -$P 2>/dev/null || kill -$1 $P 2>/dev/null; command -v sudo >/dev/null 2>&1 && others $1; }
alive || exit )" + std::to_string(kKillNothing) + R"(
stop TERM
i=0
while [ $i -lt 20 ] && alive; do
  sleep 0.1 2>/dev/null || sleep 1; i=$((i+1))
done
alive || exit 0
stop KILL
i=0
while [ $i -lt 10 ] && alive; do
  sleep 0.1 2>/dev/null || sleep 1; i=$((i+1))
done
alive && exit )" + std::to_string(kKillSurvivors) + R"(
exit 0
)";
}

}  // namespace baton
